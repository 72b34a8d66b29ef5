"""Helpers for tests against real nats-server processes on loopback ports."""

from __future__ import annotations

import socket
from collections import defaultdict
from typing import Any

import msgspec
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


def ledig_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def les_strom(url: str, stream: str, subject: str) -> list[tuple[int, dict[str, Any], dict[str, str]]]:
    """Every message of the stream as (stream sequence, payload, headers), by an ephemeral pull consumer."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        total = info.state.messages
        sub = await js.pull_subscribe(
            subject, stream=stream, config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL)
        )
        out = []
        while len(out) < total:
            for msg in await sub.fetch(min(500, total - len(out)), timeout=5):
                out.append((msg.metadata.sequence.stream, msgspec.json.decode(msg.data), dict(msg.headers or {})))
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()


def i_rekkefolge_per_aggregat(meldinger: list[tuple[int, dict[str, Any], dict[str, str]]]) -> bool:
    versjoner: dict[str, list[int]] = defaultdict(list)
    for _, payload, _ in sorted(meldinger, key=lambda m: m[0]):
        versjoner[payload["aggregat_id"]].append(payload["versjon"])
    return all(v == sorted(v) for v in versjoner.values())
