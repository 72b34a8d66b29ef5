"""The two JetStream streams of contract.md §3, created or updated idempotently at start."""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

HENDELSER = "FORLOP_HENDELSER"
VARSLER = "FORLOP_VARSLER"
HENDELSE_SUBJECT = "forlop.hendelse"
VARSEL_SUBJECT = "forlop.varsel"
# Long enough to cover a relay restart: a re-published event inside the window is dropped by Msg-Id.
DUPLIKATVINDU_SEKUNDER = 2 * 60 * 60


def strom_konfig(navn: str, replikaer: int = 1) -> StreamConfig:
    subject = {HENDELSER: HENDELSE_SUBJECT, VARSLER: VARSEL_SUBJECT}[navn]
    return StreamConfig(
        name=navn,
        subjects=[f"{subject}.>"],
        storage=StorageType.FILE,
        num_replicas=replikaer,
        duplicate_window=DUPLIKATVINDU_SEKUNDER,
    )


async def sikre_strommer(js: JetStreamContext, replikaer: int = 1) -> None:
    """Create both streams, or update them to this configuration when they exist."""
    for navn in (HENDELSER, VARSLER):
        konfig = strom_konfig(navn, replikaer)
        try:
            await js.stream_info(navn)
        except NotFoundError:
            await js.add_stream(konfig)
            log.info("stream created", extra={"stream": navn})
        else:
            await js.update_stream(konfig)
