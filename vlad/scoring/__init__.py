"""Scorers: prompt ensembles, zero-/few-shot WinCLIP, text definitions, retrieval memory."""
