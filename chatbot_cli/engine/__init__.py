"""Inference engines. Nothing here knows about HTTP, FastAPI or the database."""
