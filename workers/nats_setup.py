"""The two JetStream streams of contract.md §3, created or updated idempotently at start."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg
import msgspec
import nats
from nats.aio.client import Client as NATS
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
# How often a publisher compares a stream with what it acknowledged (besides on every reconnect).
KONTROLL_SEKUNDER = 30.0


def stream_config(navn: str, replikaer: int = 1) -> StreamConfig:
    subject = {HENDELSER: HENDELSE_SUBJECT, VARSLER: VARSEL_SUBJECT}[navn]
    return StreamConfig(
        name=navn,
        subjects=[f"{subject}.>"],
        storage=StorageType.FILE,
        num_replicas=replikaer,
        duplicate_window=DUPLIKATVINDU_SEKUNDER,
    )


async def ensure_streams(js: JetStreamContext, replikaer: int = 1) -> None:
    """Create both streams, or update them to this configuration when they exist."""
    for navn in (HENDELSER, VARSLER):
        konfig = stream_config(navn, replikaer)
        try:
            await js.stream_info(navn)
        except NotFoundError:
            await js.add_stream(konfig)
            log.info("stream created", extra={"stream": navn})
        else:
            await js.update_stream(konfig)


@dataclass(frozen=True, slots=True)
class Stromtilstand:
    """What JetStream holds of a stream: the sequences in [first, last] except the deleted ones."""

    first_seq: int
    last_seq: int
    slettet: tuple[int, ...]

    def mangler(self, sekvens: int) -> bool:
        return sekvens < self.first_seq or sekvens > self.last_seq or sekvens in self.slettet


async def stream_state(nc: NATS, stream: str) -> Stromtilstand | None:
    """The stream's state with the list of deleted sequences (nats-py's stream_info does not ask for it)."""
    svar = await nc.request(f"$JS.API.STREAM.INFO.{stream}", b'{"deleted_details": true}', timeout=5)
    info = msgspec.json.decode(svar.data)
    if "error" in info:
        if info["error"].get("code") == 404:
            return None
        raise nats.errors.Error(info["error"].get("description", "stream info failed"))
    state = info["state"]
    return Stromtilstand(
        state.get("first_seq", 0), state.get("last_seq", 0), tuple(state.get("deleted") or ())
    )


async def har_tapt(
    conn: asyncpg.Pool | asyncpg.Connection, tabell: str, kolonne: str, t: Stromtilstand | None
) -> bool:
    """Whether any sequence recorded in `tabell.kolonne` is no longer in the stream (None: the stream is gone)."""
    if t is None:
        return bool(
            await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {tabell} WHERE {kolonne} IS NOT NULL)")
        )
    return bool(
        await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {tabell} WHERE {kolonne} < $1 OR {kolonne} > $2 "
            f"OR {kolonne} = ANY($3::bigint[]))",
            t.first_seq,
            t.last_seq,
            list(t.slettet),
        )
    )


async def quiet(error: Exception) -> None:
    """An `error_cb` for a short-lived client: its caller reports the failure (nats-py's default logs a
    traceback for each failed connect)."""
