"""Reasoning: language and vision-language model backends, parsing of their answers."""
