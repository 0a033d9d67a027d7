"""WinCLIP: prompt-ensemble zero-/few-shot scoring (pure maths apart from the scorer)."""
