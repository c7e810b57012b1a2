"""Webhooks for partner tools: endpoints (``endpoint``), where they may point (``address``),
the fan-out of events into deliveries and their sending (``delivery``), and the sweep that
retries, disables failing endpoints and purges (``sweep``)."""
