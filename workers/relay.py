"""The event relay: every stored event of the two public aggregates to JetStream, at least once, in order.

- Follows the events table by notification id (NOTIFY wakes it, polling is the fallback), like the
  projection runner, from its own position in `forlop_sporing` (row `relay`).
- Publishes with `Nats-Msg-Id` = the event's id, pipelined (`publish_async`, a bounded number in flight) in
  log order on one connection, so each aggregate's events reach the stream in order.
- The position moves only past events whose publish was acknowledged (and past the unpublished person
  record's events between them), together with the stream sequence each one got (`forlop_relay_logg`), in
  one transaction. A crash after an ack and before that commit republishes; the stream's duplicate window
  drops the repeat by Msg-Id.
- One active replica (a PostgreSQL advisory lock); NATS being down only pauses it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
import nats
from nats.js import JetStreamContext

from projections.runner import SPORING, SPORING_DDL, til_notifikasjoner
from store.konvolutt import konvolutt, subject
from store.laas import kjor_ddl, ta_laas, vent
from store.mapper import ForlopMapper
from workers.nats_oppsett import (
    HENDELSER,
    KONTROLL_SEKUNDER,
    har_tapt,
    koble_til,
    sikre_strommer,
    stromtilstand,
)

log = logging.getLogger(__name__)

NAVN = "relay"
LOGG = "forlop_relay_logg"
LOGG_DDL = (
    f"CREATE TABLE IF NOT EXISTS {LOGG} (posisjon bigint PRIMARY KEY, hendelse_id uuid NOT NULL, "
    "sekvens bigint NOT NULL, publisert timestamptz NOT NULL DEFAULT now())"
)
LOGG_INDEKS = f"CREATE INDEX IF NOT EXISTS {LOGG}_sekvens_idx ON {LOGG} (sekvens)"


class NatsUtilgjengelig(Exception):
    """A publish was not acknowledged in time: NATS (or the stream's leader) is not there right now."""


@dataclass
class RelayStatus:
    aktiv: bool = False
    posisjon: int = 0
    publisert: int = 0
    spolt_tilbake: int = 0
    siden_fremdrift: float = field(default_factory=time.monotonic)


class Relay:
    def __init__(
        self,
        dsn: str,
        nats_url: str,
        pseudonym_nokkel: bytes,
        *,
        events_table: str = "forlop_events",
        batch: int = 1000,
        i_luften: int = 512,
        ack_tidsfrist: float = 5.0,
        replikaer: int = 1,
        poll_sekunder: float = 1.0,
        mapper: ForlopMapper | None = None,
    ) -> None:
        self.dsn = dsn
        self.nats_url = nats_url
        self.pseudonym_nokkel = pseudonym_nokkel
        self.events_table = events_table
        self.batch = batch
        self.i_luften = i_luften
        self.ack_tidsfrist = ack_tidsfrist
        self.replikaer = replikaer
        self.poll_sekunder = poll_sekunder
        self.mapper = mapper or ForlopMapper()  # with field encryption: store.mapper.mapper_for(...)
        self.status = RelayStatus()
        self._vekk = asyncio.Event()
        self._kontroller = True
        self._uten_msg_id: set[int] = set()
        # The pipeline: (position, event id, ack future) published and not yet committed, in log order.
        self._ventende: collections.deque[tuple[int, Any, asyncio.Future[Any] | None]] = collections.deque()
        self._les_pos: int | None = None  # read up to here (None: from the committed position)
        self._siste_per_aggregat: dict[Any, asyncio.Future[Any]] = {}  # the last publish of each aggregate

    async def kjor(self, stopp: asyncio.Event) -> None:
        pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=2)
        try:
            while not stopp.is_set():
                try:
                    await opprett(pool)
                    await self._som_aktiv(pool, stopp)
                except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as e:
                    log.warning("relay lost its database connection", extra={"error": str(e)})
                    await vent(stopp, self.poll_sekunder)
                except Exception:  # a worker must never die silently: log, pause, try again
                    log.exception("relay failed; retrying")
                    await vent(stopp, self.poll_sekunder)
        finally:
            self.status.aktiv = False
            await pool.close()

    async def _som_aktiv(self, pool: asyncpg.Pool, stopp: asyncio.Event) -> None:
        laas = await ta_laas(self.dsn, NAVN, stopp, self.poll_sekunder)
        if laas is None:
            return
        self._tilbakestill()
        nc = None
        try:
            nc = await koble_til(self.nats_url, stopp, "forlop-relay", self._gjenoppkoblet)
            if nc is None:
                return
            js = nc.jetstream(publish_async_max_pending=self.i_luften)
            await laas.add_listener(self.events_table, lambda *_: self._vekk.set())
            self.status.aktiv = True
            klar = False
            self._kontroller = True
            neste_kontroll = 0.0
            while not stopp.is_set():
                if laas.is_closed():
                    raise asyncpg.InterfaceError("the lock connection is closed")
                try:
                    if not klar or self._kontroller or time.monotonic() >= neste_kontroll:
                        self._kontroller = False
                        # On every (re)connect and periodically: has the stream lost what it acknowledged?
                        await self.kontroller_strom(pool, nc)
                        await sikre_strommer(js, self.replikaer)
                        klar = True
                        neste_kontroll = time.monotonic() + KONTROLL_SEKUNDER
                    n = await self.publiser_batch(pool, js)
                except (NatsUtilgjengelig, nats.errors.Error, TimeoutError) as e:
                    log.warning("publishing paused: nats unavailable", extra={"error": type(e).__name__})
                    klar = False
                    await vent(stopp, self.poll_sekunder)
                    continue
                if n == 0:
                    self._vekk.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._vekk.wait(), self.poll_sekunder)
        finally:
            self.status.aktiv = False
            if nc is not None:
                with contextlib.suppress(Exception):
                    await nc.close()
            with contextlib.suppress(Exception):
                await laas.close()

    async def _gjenoppkoblet(self) -> None:
        """A reconnect may follow a NATS restart that lost acknowledged writes: check before publishing."""
        self._kontroller = True
        self._vekk.set()

    async def kontroller_strom(self, pool: asyncpg.Pool, nc: nats.NATS) -> int | None:
        """Rewind to the first event the stream no longer holds although it acknowledged it (a JetStream
        that lost acknowledged writes: an OS crash before fsync, a truncated or corrupted store, a purge).
        Returns the position rewound to, or None when nothing was lost.

        Two kinds of loss. Past the stream's last sequence (a truncated store): those sequences will be
        handed out again, so their log rows are forgotten and the events go out as new. Below the first
        sequence or deleted inside (a purge, a lost block): the server still remembers their Msg-Ids in its
        duplicate window and would drop a republish, so they go out without the header (subscribers
        deduplicate by `id`, docs/subscribers.md) and their log rows stay until the new sequence is known."""
        tilstand = await stromtilstand(nc, HENDELSER)
        if not await har_tapt(pool, LOGG, "sekvens", tilstand):
            self._uten_msg_id = set()
            return None
        async with pool.acquire() as conn, conn.transaction():
            if tilstand is None:  # the stream itself is gone: everything goes out again, as new
                forste = await conn.fetchval(f"SELECT min(posisjon) FROM {LOGG}")
                await conn.execute(f"DELETE FROM {LOGG}")
                self._uten_msg_id = set()
            else:
                hale = await conn.fetchval(
                    f"SELECT min(posisjon) FROM {LOGG} WHERE sekvens > $1", tilstand.last_seq
                )
                await conn.execute(f"DELETE FROM {LOGG} WHERE sekvens > $1", tilstand.last_seq)
                inne = await conn.fetch(
                    f"SELECT posisjon FROM {LOGG} WHERE sekvens < $1 OR sekvens = ANY($2::bigint[])",
                    tilstand.first_seq,
                    list(tilstand.slettet),
                )
                self._uten_msg_id = {r[0] for r in inne}
                forste = min(x for x in (hale, *self._uten_msg_id) if x is not None)
            await conn.execute(
                f"UPDATE {SPORING} SET posisjon = LEAST(posisjon, $2), oppdatert = now() WHERE projeksjon = $1",
                NAVN,
                forste - 1,
            )
        log.warning(
            "stream lost acknowledged events: republishing from the log", extra={"fra_posisjon": forste}
        )
        self.status.spolt_tilbake += 1
        self._tilbakestill()
        return forste - 1

    async def publiser_batch(self, pool: asyncpg.Pool, js: JetStreamContext) -> int:
        """One step of a pipeline: publish the next events after what was read (while earlier acks are
        still outstanding, up to `i_luften` in flight), then take the acks that have arrived, in log order,
        and move the position past them. Returns the number of events read or acknowledged (0: idle).

        Raises NatsUtilgjengelig when an ack is missing, after moving the position past what was
        acknowledged; what was in flight is dropped and read again from the log."""
        if self._les_pos is None:
            self._les_pos = await pool.fetchval(f"SELECT posisjon FROM {SPORING} WHERE projeksjon = $1", NAVN)
            self._ventende.clear()
        lest = 0
        plass = self.i_luften - len(self._ventende)
        # Refill when at least half the window is free: one read and one commit per half window, not per ack.
        if plass >= max(1, self.i_luften // 2):
            rows = await pool.fetch(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                f"FROM {self.events_table} WHERE notification_id > $1 ORDER BY notification_id LIMIT $2",
                self._les_pos,
                min(self.batch, plass),
            )
            lest = len(rows)
            if rows:
                notifikasjoner = til_notifikasjoner(rows)
                await self.mapper.forbered_lesing(pool, (n.state for n in notifikasjoner))
                # Encode the whole batch first, then publish in a tight loop, so the NATS client's flusher
                # can put many messages in one socket write.
                konvolutter = [
                    (n.id, konvolutt(self.mapper, n, self.pseudonym_nokkel)) for n in notifikasjoner
                ]
                try:
                    for nid, k in konvolutter:
                        if k is None:
                            self._ventende.append((nid, None, None))
                        else:
                            # Never two events of one aggregate in flight: if the earlier one were lost
                            # (a leader change) while the later one was stored, the republish would land
                            # after it and break the order per aggregate.
                            forrige = self._siste_per_aggregat.get(k.aggregat_id)
                            if forrige is not None and not forrige.done():
                                await asyncio.wait_for(asyncio.shield(forrige), self.ack_tidsfrist)
                            if forrige is not None and (
                                forrige.cancelled() or forrige.exception() is not None
                            ):
                                raise NatsUtilgjengelig(
                                    "an earlier event of the aggregate was not acknowledged"
                                )
                            headers = None if nid in self._uten_msg_id else {"Nats-Msg-Id": str(k.id)}
                            fut = await js.publish_async(
                                subject(k),
                                msgspec.json.encode(k),
                                headers=headers,
                                wait_stall=self.ack_tidsfrist,
                            )
                            self._ventende.append((nid, k.id, fut))
                            self._siste_per_aggregat[k.aggregat_id] = fut
                        self._les_pos = nid
                except (nats.errors.Error, TimeoutError, NatsUtilgjengelig) as e:
                    log.warning("publish failed", extra={"error": type(e).__name__})
                    self._ventende.append((-1, None, _feilet()))  # stops the drain below at this point
        if (
            len(self._siste_per_aggregat) > 4 * self.i_luften
        ):  # forget aggregates whose last publish is settled
            self._siste_per_aggregat = {a: f for a, f in self._siste_per_aggregat.items() if not f.done()}
        # Wait for the oldest ack only when nothing new could be read; otherwise keep the pipe full.
        ny_pos, logg, feil = await self._kvitteringer(pool, vent=lest == 0)
        if ny_pos is not None:
            async with pool.acquire() as conn, conn.transaction():
                if logg:
                    await conn.executemany(
                        f"INSERT INTO {LOGG} (posisjon, hendelse_id, sekvens) VALUES ($1, $2, $3) "
                        "ON CONFLICT (posisjon) DO UPDATE SET sekvens = excluded.sekvens, publisert = now()",
                        logg,
                    )
                await conn.execute(
                    f"UPDATE {SPORING} SET posisjon = $2, oppdatert = now() WHERE projeksjon = $1",
                    NAVN,
                    ny_pos,
                )
            self._uten_msg_id -= {nid for nid, _, _ in logg}
            self.status.posisjon = ny_pos
            self.status.publisert += len(logg)
            self.status.siden_fremdrift = time.monotonic()
        if feil:
            self._tilbakestill()
            raise NatsUtilgjengelig(f"acknowledged up to position {self.status.posisjon}")
        return lest + len(logg)

    def _tilbakestill(self) -> None:
        """Drop what is in flight; the next step reads again from the committed position."""
        for _, _, fut in self._ventende:
            if fut is not None and not fut.done():
                fut.cancel()
        self._ventende.clear()
        self._siste_per_aggregat.clear()
        self._les_pos = None

    async def _kvitteringer(
        self, pool: asyncpg.Pool, *, vent: bool
    ) -> tuple[int | None, list[tuple[int, Any, int]], bool]:
        """Take acks from the head of the pipe in log order: (the new position or None, log rows, failed)."""
        ny_pos: int | None = None
        logg: list[tuple[int, Any, int]] = []
        if vent:
            # Acks of one stream arrive in order: waiting for one a quarter window in takes a whole run of
            # them per step (one commit per run, not one per ack).
            maal = None
            for i, (_, _, fut) in enumerate(self._ventende):
                if fut is not None:
                    maal = fut
                if i + 1 >= max(1, self.i_luften // 4):
                    break
            if maal is not None and not maal.done():
                try:
                    await asyncio.wait_for(asyncio.shield(maal), self.ack_tidsfrist)
                except (TimeoutError, asyncio.CancelledError):
                    pass  # the head decides below: taken if done, a failure if not
            vent = not self._ventende or self._ventende[0][2] is None or not self._ventende[0][2].done()
        while self._ventende:
            nid, hendelse, fut = self._ventende[0]
            if fut is not None:
                if not fut.done():
                    if not vent:
                        break
                    try:
                        await asyncio.wait_for(asyncio.shield(fut), self.ack_tidsfrist)
                    except (TimeoutError, asyncio.CancelledError):
                        return ny_pos, logg, True
                    vent = False  # one wait per step; the rest are taken as they are done
                if fut.cancelled() or fut.exception() is not None:
                    return ny_pos, logg, True
                logg.append((nid, hendelse, fut.result().seq))
            self._ventende.popleft()
            ny_pos = nid
        return ny_pos, logg, False


def _feilet() -> asyncio.Future[Any]:
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    fut.set_exception(NatsUtilgjengelig("publish failed"))
    fut.exception()  # retrieved: no "never retrieved" warning
    return fut


async def opprett(conn: asyncpg.Pool | asyncpg.Connection) -> None:
    await kjor_ddl(conn, [SPORING_DDL, LOGG_DDL, LOGG_INDEKS])
    await conn.execute(f"INSERT INTO {SPORING} (projeksjon) VALUES ($1) ON CONFLICT DO NOTHING", NAVN)


async def publiser_paa_nytt(
    dsn: str,
    nats_url: str,
    pseudonym_nokkel: bytes,
    fra: int,
    til: int | None,
    *,
    events_table: str = "forlop_events",
    mapper: ForlopMapper | None = None,
) -> tuple[int, int]:
    """`forlop relay replay`: publish a range of the log again, with the same Msg-Ids (subscribers see
    repeats of known ids; inside the duplicate window the stream drops them). Returns (sent, dropped as
    duplicates). The relay's own position is not touched."""
    mapper = mapper or ForlopMapper()
    conn = await asyncpg.connect(dsn)
    nc = await nats.connect(nats_url.split(","), name="forlop-relay-replay")
    try:
        js = nc.jetstream(publish_async_max_pending=512)
        rows = await conn.fetch(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM "
            f"{events_table} WHERE notification_id >= $1 AND ($2::bigint IS NULL OR notification_id <= $2) "
            "ORDER BY notification_id",
            fra,
            til,
        )
        futures = []
        notifikasjoner = til_notifikasjoner(rows)
        await mapper.forbered_lesing(conn, (n.state for n in notifikasjoner))
        for n in notifikasjoner:
            k = konvolutt(mapper, n, pseudonym_nokkel)
            if k is not None:
                futures.append(
                    await js.publish_async(
                        subject(k), msgspec.json.encode(k), headers={"Nats-Msg-Id": str(k.id)}
                    )
                )
        acks = [await asyncio.wait_for(f, 10) for f in futures]
        return len(acks), sum(1 for a in acks if a.duplicate)
    finally:
        await nc.close()
        await conn.close()
