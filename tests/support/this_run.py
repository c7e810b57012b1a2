"""The servers this run uses, detected once: conftest points the settings at them and the
tests that start processes or brokers of their own read them here."""

from __future__ import annotations

from tests.support.servers import detect

SERVERS = detect()
