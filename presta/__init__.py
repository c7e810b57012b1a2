"""Presta infrastructure shared by every layer: settings, database, events, jobs, mail."""
