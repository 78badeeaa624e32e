"""Typer command groups. Modules here import only typer at module level; everything heavier
(httpx, rich, the server, the engine, the database) is imported inside the command that needs it."""
