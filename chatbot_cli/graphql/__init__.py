"""The GraphQL API for todos (Strawberry): /graphql, scoped to the authenticated owner."""
