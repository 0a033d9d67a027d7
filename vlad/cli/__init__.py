"""The ``vlad`` command line: one module per command; it only parses, calls and prints."""
