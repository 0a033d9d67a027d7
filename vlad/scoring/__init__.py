"""Scorers: prompt ensembles, zero-/few-shot WinCLIP, and (later) learned prompts and memory."""
