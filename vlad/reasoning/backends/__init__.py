"""Backends that serve chat models: transformers, vLLM, any OpenAI-compatible server."""
