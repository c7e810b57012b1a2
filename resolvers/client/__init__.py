"""Clients of a marketplace: accounts and invitations (``onboarding``), who sees them and the
staff list (``reads``), marketing consent, export and erasure (``gdpr``)."""
