"""GraphQL only: types, inputs, payloads, the Schema and the ASGI app. No business rules."""
