"""Webhooks for partner tools: endpoint and delivery types, the ADMIN's queries and mutations."""
