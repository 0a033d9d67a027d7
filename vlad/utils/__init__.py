"""Small helpers every layer may use, each written once.

Atomic writes, clock format, device choice, one-line messages. They import nothing of vlad
above ``errors`` and ``types``.
"""
