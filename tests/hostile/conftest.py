"""Hostile-input fixtures: the end-to-end app (real PostgreSQL and NATS, served by uvicorn) of tests/e2e."""

from __future__ import annotations

from tests.e2e.conftest import client, nats_url, server, settings, shared_server, token

__all__ = ["client", "nats_url", "server", "settings", "shared_server", "token"]
