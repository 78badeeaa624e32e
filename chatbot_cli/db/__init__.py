"""The database layer: SQLAlchemy models, the async `Database`, todo and API-key queries.

Knows nothing of HTTP or the engine; the GraphQL resolvers and the CLI call into it.
"""
