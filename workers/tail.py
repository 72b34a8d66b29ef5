"""`forlop tail`: the example integrators copy — a JetStream consumer that prints each event.

By default the consumer is ephemeral: it shows the subject asked for from the start of the stream and is
gone when the command ends. `--resume` makes it durable, named from the subject (`forlop-tail-<subject>`),
so a restart with the same `--subject` resumes where it stopped and another subject never shows the old
one's events. `--durable NAME` names it explicitly; a durable of that name that follows another subject is
refused rather than silently reused. A subscriber should deduplicate by `id` (JetStream delivers at least
once), detect a gap per aggregate by `versjon`, and catch up from `GET /api/v1/hendelser`
(docs/subscribers.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import signal
import sys
from typing import TextIO

import nats
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from workers.nats_setup import HENDELSER, VARSLER


class TailRefused(Exception):
    """The durable consumer asked for follows another subject."""


def durable_for(subject: str) -> str:
    """The durable consumer name of `--resume` for `subject`: readable, and unique per subject (consumer
    names may not hold `.`, `*`, `>` or spaces)."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "_", subject).strip("_")[:48]
    digest = hashlib.sha256(subject.encode()).hexdigest()[:8]
    return f"forlop-tail-{readable}-{digest}"


def stream_for(subject: str) -> str:
    return VARSLER if subject.startswith("forlop.varsel") else HENDELSER


async def _check_durable(js: nats.js.JetStreamContext, stream: str, durable: str, subject: str) -> None:
    try:
        info = await js.consumer_info(stream, durable)
    except nats.js.errors.NotFoundError:
        return
    if info.config.filter_subject != subject:
        raise TailRefused(
            f"the durable consumer {durable!r} follows {info.config.filter_subject!r}, not {subject!r}: "
            "use --resume (a durable named from the subject), another --durable, or none (ephemeral)"
        )


async def tail(url: str, subject: str, durable: str | None, *, stop: asyncio.Event | None = None,
               out: TextIO | None = None) -> None:
    """Print the events of `subject` to `out` (stdout) until `stop` is set (default: SIGINT/SIGTERM);
    `durable` None is an ephemeral consumer."""
    out = out if out is not None else sys.stdout
    nc = await nats.connect(url, name="forlop-tail", max_reconnect_attempts=-1)
    try:
        js = nc.jetstream()
        stream = stream_for(subject)
        if durable is not None:
            await _check_durable(js, stream, durable, subject)
        if stop is None:
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
        while not stop.is_set():
            try:
                msgs = await sub.fetch(100, timeout=0.5)
            except TimeoutError:
                continue
            for msg in msgs:
                out.write(msg.data.decode() + "\n")
                await msg.ack()
            out.flush()
        if durable is None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
