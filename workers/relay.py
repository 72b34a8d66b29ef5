"""The event relay: every stored event of the two public aggregates to JetStream, at least once, in order.

- Follows the events table by notification id (NOTIFY wakes it, polling is the fallback), like the
  projection runner, from its own position in `forlop_sporing` (row `relay`).
- Publishes with `Nats-Msg-Id` = the event's id in log order on one connection, speaking JetStream's publish
  protocol on the core client: each message a PUB whose reply subject is the relay's ack inbox plus a token,
  a batch's commands written into the client's buffer and flushed once (nats-py would write each publish
  alone), a bounded number in flight, and at most one event of an aggregate in flight (an event lost in a
  leader change must not be overtaken by the same aggregate's next one).
- The position moves only past events whose publish was acknowledged (and past the unpublished person
  record's events between them), together with the stream sequence each one got (`forlop_relay_logg`), in
  one statement, committed while the next publishes go out. A crash after an ack and before that commit
  republishes; the stream's duplicate window drops the repeat by Msg-Id.
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

from projections.runner import SPORING, til_notifikasjoner
from store.envelope import konvolutt, publiseres, subject
from store.locks import ta_laas, vent
from store.mapper import ForlopMapper
from workers.nats_setup import (
    HENDELSER,
    KONTROLL_SEKUNDER,
    har_tapt,
    koble_til,
    sikre_strommer,
    stromtilstand,
)

log = logging.getLogger(__name__)

NAVN = "relay"
LOGG = "forlop_relay_logg"  # made by store/migrations/0006_relay_log.sql


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
        # The pipeline: (position, event id, publish token; 0: not published, -1: failed) read and not yet
        # committed, in log order. A publish's ack lands in `_kvitt` (token -> stream sequence, -1: refused).
        self._ventende: collections.deque[tuple[int, Any, int]] = collections.deque()
        self._les_pos: int | None = None  # read up to here (None: from the committed position)
        self._siste_per_aggregat: dict[Any, int] = {}  # the token of the last publish of each aggregate
        self._kvitt: dict[int, int] = {}
        self._vakter: dict[int, asyncio.Future[None]] = {}  # tokens someone waits for
        self._neste = 1  # the next publish token
        self._gyldig_fra = 1  # acks of lower tokens belong to publishes given up
        self._forbrukt = 0  # every token up to here was acknowledged and taken
        self._inbox = ""
        # Acknowledged and not yet committed (position, log rows), and the commit in flight.
        self._ulagret_pos: int | None = None
        self._ulagret: list[tuple[int, Any, int]] = []
        self._lagring: asyncio.Future[tuple[int, list[tuple[int, Any, int]]]] | None = None

    async def kjor(self, stopp: asyncio.Event) -> None:
        pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=3)
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
        db = lager = None
        try:
            nc = await koble_til(self.nats_url, stopp, "forlop-relay", self._gjenoppkoblet)
            if nc is None:
                return
            js = nc.jetstream()
            await self._abonner(nc)
            await laas.add_listener(self.events_table, lambda *_: self._vekk.set())
            # Two connections held while active, one for reading and one for the commits beside it (a pool
            # release resets the session, a round trip, every time).
            db = await pool.acquire()
            lager = await pool.acquire()
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
                        await self._lagre(lager, alt=True)  # nothing in flight to the database
                        # On every (re)connect and periodically: has the stream lost what it acknowledged?
                        await self.kontroller_strom(pool, nc)
                        await sikre_strommer(js, self.replikaer)
                        klar = True
                        neste_kontroll = time.monotonic() + KONTROLL_SEKUNDER
                    n = await self.publiser_batch(db, nc, lager)
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
            if lager is not None and not laas.is_closed():  # still the active one: commit what was acked
                with contextlib.suppress(Exception):
                    await self._lagre(lager, alt=True)
            await self._forkast_lagring()
            for conn in (db, lager):
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await pool.release(conn)
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

    async def publiser_batch(
        self,
        db: asyncpg.Connection | asyncpg.Pool,
        nc: nats.NATS,
        lager: asyncpg.Connection | None = None,
    ) -> int:
        """One step of a pipeline: publish the next events after what was read (while earlier acks are
        still outstanding, up to `i_luften` in flight), then take the acks that have arrived, in log order,
        and move the position past them. Returns the number of events read or acknowledged (0: idle).

        Publishing is JetStream's own protocol on the core connection: each message carries a reply subject
        under this relay's ack inbox (`<inbox>.<token>`), the stream answers there with its PubAck. A whole
        batch is queued without yielding, so the client writes it to the socket in a few writes.

        Raises NatsUtilgjengelig when an ack is missing, after moving the position past what was
        acknowledged; what was in flight is dropped and read again from the log."""
        if self._les_pos is None:
            self._les_pos = await db.fetchval(f"SELECT posisjon FROM {SPORING} WHERE projeksjon = $1", NAVN)
            self._ventende.clear()
        lest = 0
        plass = self.i_luften - len(self._ventende)
        # Refill when at least half the window is free: one read and one commit per half window, not per ack.
        if plass >= max(1, self.i_luften // 2):
            rows = await db.fetch(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                f"FROM {self.events_table} WHERE notification_id > $1 ORDER BY notification_id LIMIT $2",
                self._les_pos,
                min(self.batch, plass),
            )
            lest = len(rows)
            if rows:
                # Only the published events are decoded (the person record's rows are passed over).
                notifikasjoner = til_notifikasjoner([r for r in rows if publiseres(r[3])])
                await self.mapper.forbered_lesing(db, (n.state for n in notifikasjoner))
                mapper, nokkel = self.mapper, self.pseudonym_nokkel
                envelopes = {n.id: konvolutt(mapper, n, nokkel) for n in notifikasjoner}
                konvolutter = [(r[0], envelopes.get(r[0])) for r in rows]
                ventende = self._ventende
                siste = self._siste_per_aggregat
                kvitt = self._kvitt
                inbox = self._inbox.encode()
                uten = self._uten_msg_id
                encode = _encoder.encode
                # Connected: the PUB commands go straight into the client's outgoing buffer, built here
                # (the same bytes nc.publish builds, without its per-call checks), and the client's flusher
                # writes them out at the next yield. Otherwise nc.publish, which buffers or refuses.
                direkte = _DIREKTE and nc.is_connected
                kommando = nc._send_command if direkte else None  # noqa: SLF001
                grense = nc.max_payload - 63  # larger: nc.publish, which refuses it (MaxPayloadError)
                antall = byte = 0
                try:
                    for nid, k in konvolutter:
                        if k is None:
                            ventende.append((nid, None, 0))
                        else:
                            # Never two events of one aggregate in flight: if the earlier one were lost
                            # (a leader change) while the later one was stored, the republish would land
                            # after it and break the order per aggregate.
                            forrige = siste.get(k.aggregat_id)
                            if forrige is not None and forrige > self._forbrukt:
                                if forrige not in kvitt:
                                    if antall:
                                        await _kick(nc)  # the earlier one may still be in the buffer
                                    await self._vent_paa(forrige)
                                if kvitt[forrige] < 0:
                                    raise NatsUtilgjengelig(
                                        "an earlier event of the aggregate was not acknowledged"
                                    )
                            tok = self._neste
                            self._neste = tok + 1
                            payload = encode(k)
                            if kommando is not None and len(payload) <= grense:
                                if nid in uten:
                                    cmd = b"PUB %s %s%d %d\r\n%s\r\n" % (
                                        subject(k).encode(),
                                        inbox,
                                        tok,
                                        len(payload),
                                        payload,
                                    )
                                else:
                                    # The envelope starts with its id: {"id":"<36 characters>",...
                                    msg_id = (
                                        payload[7:43] if payload[:7] == b'{"id":"' else str(k.id).encode()
                                    )
                                    cmd = (
                                        b"HPUB %s %s%d 63 %d\r\nNATS/1.0\r\nNats-Msg-Id: %s\r\n\r\n%s\r\n"
                                        % (
                                            subject(k).encode(),
                                            inbox,
                                            tok,
                                            63 + len(payload),
                                            msg_id,
                                            payload,
                                        )
                                    )
                                await kommando(cmd)
                                antall += 1
                                byte += len(payload)
                            else:
                                await nc.publish(
                                    subject(k),
                                    payload,
                                    reply=f"{self._inbox}{tok}",
                                    headers=None if nid in uten else {"Nats-Msg-Id": str(k.id)},
                                )
                            ventende.append((nid, k.id, tok))
                            siste[k.aggregat_id] = tok
                        self._les_pos = nid
                except (nats.errors.Error, TimeoutError, NatsUtilgjengelig) as e:
                    log.warning("publish failed", extra={"error": type(e).__name__})
                    ventende.append((-1, None, -1))  # stops the drain below at this point
                finally:
                    if antall:
                        nc.stats["out_msgs"] += antall
                        nc.stats["out_bytes"] += byte
                        await _kick(nc)
        if len(self._siste_per_aggregat) > 4 * self.i_luften:  # forget aggregates whose publish is settled
            self._siste_per_aggregat = {
                a: t
                for a, t in self._siste_per_aggregat.items()
                if t > self._forbrukt and t not in self._kvitt
            }
        # Wait for the oldest ack only when nothing new could be read; otherwise keep the pipe full.
        ny_pos, logg, feil = await self._kvitteringer(vent=lest == 0)
        if ny_pos is not None:
            self._ulagret_pos = ny_pos
            self._ulagret.extend(logg)
        # The commit runs beside the next steps (on `lager`, a second connection): one in flight, the acks
        # taken meanwhile go together in the next one. Everything is committed before an idle wait and
        # before giving up what is in flight.
        await self._lagre(
            db if lager is None else lager, alt=feil or lager is None or (lest == 0 and not logg)
        )
        if feil:
            self._tilbakestill()
            raise NatsUtilgjengelig(f"acknowledged up to position {self.status.posisjon}")
        return lest + len(logg)

    async def _lagre(self, db: asyncpg.Connection | asyncpg.Pool, *, alt: bool) -> None:
        """Collect a finished commit and start the next with the acks taken since; `alt`: wait until
        everything taken is committed."""
        while True:
            if self._lagring is not None and (alt or self._lagring.done()):
                lagring, self._lagring = self._lagring, None
                pos, logg = await lagring
                if self._uten_msg_id:
                    self._uten_msg_id -= {nid for nid, _, _ in logg}
                self.status.posisjon = pos
                self.status.publisert += len(logg)
                self.status.siden_fremdrift = time.monotonic()
            if self._lagring is None and self._ulagret_pos is not None:
                pos, logg = self._ulagret_pos, self._ulagret
                self._ulagret_pos, self._ulagret = None, []
                self._lagring = asyncio.ensure_future(_skriv(db, pos, logg))
                if alt:
                    continue
            return

    async def _forkast_lagring(self) -> None:
        """Leaving the active role: wait for a commit in flight (its outcome no longer matters here) and
        forget acks not committed (they are published again)."""
        lagring, self._lagring = self._lagring, None
        if lagring is not None:
            with contextlib.suppress(Exception):
                await lagring
        self._ulagret_pos, self._ulagret = None, []

    async def _abonner(self, nc: nats.NATS) -> None:
        """The ack inbox of this connection (the client subscribes it again after a reconnect)."""
        inbox = nc.new_inbox() + "."
        self._inbox = inbox
        n = len(inbox)

        async def kvittering(msg: Any) -> None:
            try:
                tok = int(msg.subject[n:])
            except ValueError:
                return
            if tok < self._gyldig_fra:
                return  # an ack of a publish that was given up (read again from the log)
            data = msg.data
            seq = -1
            if data:  # empty: a status message (no responders: no stream for the subject right now)
                try:
                    ack = _ack.decode(data)
                except msgspec.DecodeError:
                    pass
                else:
                    if ack.error is None and ack.seq > 0:
                        seq = ack.seq
            self._kvitt[tok] = seq
            vakt = self._vakter.pop(tok, None)
            if vakt is not None and not vakt.done():
                vakt.set_result(None)

        await nc.subscribe(inbox + "*", cb=kvittering)

    async def _vent_paa(self, tok: int) -> None:
        """Wait until the ack of publish `tok` is in `_kvitt` (TimeoutError after `ack_tidsfrist`)."""
        vakt = self._vakter.get(tok)
        if vakt is None:
            vakt = self._vakter[tok] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(vakt, self.ack_tidsfrist)
        finally:
            self._vakter.pop(tok, None)

    def _tilbakestill(self) -> None:
        """Drop what is in flight; the next step reads again from the committed position."""
        self._gyldig_fra = self._neste  # acks of what was in flight are ignored from now on
        for vakt in self._vakter.values():
            vakt.cancel()
        self._vakter.clear()
        self._kvitt.clear()
        self._ventende.clear()
        self._siste_per_aggregat.clear()
        self._les_pos = None

    async def _kvitteringer(self, *, vent: bool) -> tuple[int | None, list[tuple[int, Any, int]], bool]:
        """Take acks from the head of the pipe in log order: (the new position or None, log rows, failed)."""
        ny_pos: int | None = None
        logg: list[tuple[int, Any, int]] = []
        ventende = self._ventende
        kvitt = self._kvitt
        if vent:
            # Acks of one stream arrive in order: waiting for one a quarter window in takes a whole run of
            # them per step (one commit per run, not one per ack).
            maal = 0
            for i, (_, _, tok) in enumerate(ventende):
                if tok:
                    maal = tok
                if i + 1 >= max(1, self.i_luften // 4):
                    break
            if maal > 0 and maal not in kvitt:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await self._vent_paa(maal)  # the head decides below: taken if acked, a failure if not
            vent = not ventende or ventende[0][2] == 0 or (ventende[0][2] > 0 and ventende[0][2] not in kvitt)
        while ventende:
            nid, hendelse, tok = ventende[0]
            if tok:
                if tok < 0:
                    return ny_pos, logg, True
                seq = kvitt.pop(tok, None)
                if seq is None:
                    if not vent:
                        break
                    try:
                        await self._vent_paa(tok)
                    except (TimeoutError, asyncio.CancelledError):
                        return ny_pos, logg, True
                    vent = False  # one wait per step; the rest are taken as they arrive
                    seq = kvitt.pop(tok)
                if seq < 0:
                    return ny_pos, logg, True
                logg.append((nid, hendelse, seq))
                self._forbrukt = tok
            ventende.popleft()
            ny_pos = nid
        return ny_pos, logg, False


async def _skriv(
    db: asyncpg.Connection | asyncpg.Pool, pos: int, logg: list[tuple[int, Any, int]]
) -> tuple[int, list[tuple[int, Any, int]]]:
    """Commit the position and the stream sequences of `logg`: one statement (atomic), one round trip."""
    if logg:
        await db.execute(_LAGRE, NAVN, pos, [r[0] for r in logg], [r[1] for r in logg], [r[2] for r in logg])
    else:
        await db.execute(
            f"UPDATE {SPORING} SET posisjon = $2, oppdatert = now() WHERE projeksjon = $1", NAVN, pos
        )
    return pos, logg


async def _kick(nc: nats.NATS) -> None:
    """Have the client's flusher write what is buffered (as nc.publish does after buffering a command)."""
    koe = getattr(nc, "_flush_queue", None)
    if koe is None or koe.empty():
        await nc._flush_pending()  # noqa: SLF001


# nats-py's internals the direct path uses (nats-py 2.x); without them the relay uses nc.publish.
_DIREKTE = all(hasattr(nats.NATS, a) for a in ("_send_command", "_flush_pending"))


class _PubAck(msgspec.Struct):
    """JetStream's answer to a publish: `{"stream", "seq", "duplicate"?}` or `{"error": {...}}`."""

    seq: int = 0
    error: Any = None


_ack = msgspec.json.Decoder(_PubAck)
_encoder = msgspec.json.Encoder()
_LAGRE = (
    f"WITH logg AS (INSERT INTO {LOGG} (posisjon, hendelse_id, sekvens) "
    "SELECT * FROM unnest($3::bigint[], $4::uuid[], $5::bigint[]) "
    "ON CONFLICT (posisjon) DO UPDATE SET sekvens = excluded.sekvens, publisert = now()) "
    f"UPDATE {SPORING} SET posisjon = $2, oppdatert = now() WHERE projeksjon = $1"
)


async def opprett(conn: asyncpg.Pool | asyncpg.Connection) -> None:
    """The relay's tracking row (idempotent; the tables are the migrations')."""
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
