"""Webhooks for partner tools: endpoints (``endpoint``), where they may point (``address``),
events turned into deliveries (``fanout``) and sent (``sender``), and the sweep that retries,
repairs, disables failing endpoints and purges (``sweep``)."""
