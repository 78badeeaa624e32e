"""chatbot: terminal chat and todos backed by an embedded OpenAI-compatible server."""

__version__ = "0.1.0"
