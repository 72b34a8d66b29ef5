"""`forlop tail`: the example integrators copy — a durable JetStream consumer that prints each event.

A durable consumer remembers what it has acknowledged, so a restart resumes where it stopped. A
subscriber should deduplicate by `id` (JetStream delivers at least once), detect a gap per aggregate by
`versjon`, and catch up from `GET /api/v1/hendelser` (docs/subscribers.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from workers.nats_setup import HENDELSER, VARSLER


async def tail(url: str, subject: str, durable: str) -> None:
    nc = await nats.connect(url, name="forlop-tail", max_reconnect_attempts=-1)
    js = nc.jetstream()
    stream = VARSLER if subject.startswith("forlop.varsel") else HENDELSER
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sub = await js.pull_subscribe(
        subject,
        durable=durable,
        stream=stream,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL),
    )
    try:
        while not stop.is_set():
            try:
                msgs = await sub.fetch(100, timeout=1)
            except TimeoutError:
                continue
            for msg in msgs:
                sys.stdout.write(msg.data.decode() + "\n")
                await msg.ack()
            sys.stdout.flush()
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
