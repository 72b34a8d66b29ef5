"""Verifying the log: every stream's hash chain (store/mapper.py) and the signed checkpoints of the whole log.

Per-stream chains (`verify_log`): the events are read once in notification order, in batches (the next batch
is fetched while the current one is hashed); each event's link is recomputed with `store.mapper.compute_link`
from the *stored* link of its stream's previous event, so exactly the altered rows are named (`LINK_MISMATCH`,
`LINK_MISSING`, `VERSION_GAP`: a version that is not the previous one + 1, e.g. after a deleted row). Memory
is one (version, link) per stream. `stream=` checks one stream only (no checkpoints).

Per-stream chains alone do not catch a rewrite that recomputes a whole stream's links consistently, nor a
deleted tail. Checkpoints do: table `<events table>_sjekkpunkter` (store/migrations/0004_checkpoints.sql),
append-only (a trigger refuses UPDATE, DELETE and TRUNCATE; the signature is what protects it), one row per
checkpoint:

    nr          1, 2, 3, ... (no gaps)
    posisjon    the last notification id covered (inclusive)
    antall      events with notification id <= posisjon
    segment     SHA-256 over the events with posisjon(nr-1) < notification id <= posisjon, in notification
                order, of:  notification id (8 bytes, big-endian signed)
                          ‖ the link recomputed from the row   (32 bytes; binds id, version, topic and body)
                          ‖ the link stored in the row         (32 bytes; 32 zero bytes if it has none)
    sammendrag  SHA-256( b"forlop-sjekkpunkt-v1\\0" ‖ sammendrag(nr-1) (32 zero bytes for nr 1)
                       ‖ nr ‖ posisjon ‖ antall ‖ opprettet as µs since 1970-01-01 UTC  (4 × 8 bytes, >q)
                       ‖ segment )
    nokkel_id   the first 8 bytes (hex) of SHA-256 of the raw Ed25519 public key
    signatur    Ed25519 signature of `sammendrag`
    opprettet   when it was written

The key: Ed25519, its 32-byte seed = SHA-256(b"forlop-sjekkpunkt-ed25519\\0" ‖ settings.secret("signing")),
i.e. FORLOP_SIGNING_KEY (in development a random key under the data directory). Ed25519 rather than HMAC so
that the public key (given in every verification answer) lets an outside auditor check signatures without
being able to make them.

Each checkpoint covers only the events since the one before (the worker's cost is the new events) and chains
to it. Verification recomputes every segment in the same single pass and checks, per checkpoint, the
signature (`SIGNATURE_INVALID`, `UNKNOWN_KEY`), that its fields hash to its `sammendrag` with the stored
`sammendrag` of the one before (`CHECKPOINT_ALTERED`), that the log up to its position still hashes to its
`segment` and count (`LOG_CHANGED`), and the numbering (`SEQUENCE_GAP`). A rewritten old event changes
the recomputed and stored links, so the checkpoint covering it fails even when all links are consistent.
Events after the last checkpoint are covered by the chains only, until the next checkpoint.

A checkpoint is written (`write_checkpoint`) only when every event of its new segment holds its link: a
broken log is reported (`LogBroken`), never signed.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from store.locks import lock_key
from store.mapper import ZERO_LINK, as_uuid, chained_state, compute_link, link_of

# The stored prefix `{"lenke":"<64 hex>",` (76 bytes), measured with the mapper's own encoding.
PREFIX = len(chained_state(ZERO_LINK, UUID(int=0), 1, "t", b'{"a":1}')[1]) - len(b'"a":1}')
DOMENE = b"forlop-sjekkpunkt-v1\0"
_FRO = b"forlop-sjekkpunkt-ed25519\0"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIKRO = timedelta(microseconds=1)
LAAS = "sjekkpunkt.skriv"  # not the worker's replica lock (workers/checkpoints.py)
BATCH = 10_000

# The stored prefix is `{"lenke":"` + 64 hex + `",` (store/mapper.py); checked against the mapper's own encoding.
_probe = chained_state(ZERO_LINK, UUID(int=0), 1, "t", b'{"a":1}')
if _probe[1][:PREFIX] != b'{"lenke":"' + _probe[0].hex().encode() + b'",':
    raise ImportError("store.mapper's stored prefix is not the one store.verification expects")

Fremdrift = Callable[[int, int, float], None]


def tabell(events_table: str = "forlop_events") -> str:
    return f"{events_table}_sjekkpunkter"


# --- keys and digests -------------------------------------------------------------------------------


def signing_key_from(secret: bytes) -> Ed25519PrivateKey:
    """The checkpoint signing key derived from `settings.secret("signing")`."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(_FRO + secret).digest())


def raa(offentlig: Ed25519PublicKey) -> bytes:
    return offentlig.public_bytes(Encoding.Raw, PublicFormat.Raw)


def nokkel_id(offentlig: Ed25519PublicKey) -> str:
    return hashlib.sha256(raa(offentlig)).digest()[:8].hex()


def microseconds(tid: datetime) -> int:
    return (tid - _EPOCH) // _MIKRO


def sammendrag(forrige: bytes, nr: int, posisjon: int, antall: int, opprettet: datetime, segment: bytes) -> bytes:
    return hashlib.sha256(
        DOMENE + forrige + struct.pack(">qqqq", nr, posisjon, antall, microseconds(opprettet)) + segment
    ).digest()


_NID = struct.Struct(">q").pack
_PREFIX_HODE = b'{"lenke":"'
_PREFIX_HALE = b'",'


def _nid(row: Any) -> int:
    return row[0]


# --- answers ------------------------------------------------------------------------------------------


class Lenkefeil(msgspec.Struct, kw_only=True):
    """An event whose link does not hold."""

    aggregat_id: UUID
    versjon: int
    posisjon: int
    grunn: str  # LINK_MISMATCH | LINK_MISSING | VERSION_GAP


class Sjekkpunktfeil(msgspec.Struct, kw_only=True):
    nr: int
    posisjon: int
    grunner: list[str]  # SIGNATURE_INVALID | UNKNOWN_KEY | CHECKPOINT_ALTERED | LOG_CHANGED | SEQUENCE_GAP


class Sjekkpunkt(msgspec.Struct, kw_only=True):
    nr: int
    posisjon: int
    antall: int
    segment: str  # hex
    sammendrag: str  # hex
    nokkel_id: str
    signatur: str  # hex
    opprettet: datetime


class Verification(msgspec.Struct, kw_only=True):
    """The answer of a verification: `ok` only if every link and every checkpoint holds."""

    ok: bool
    omfang: str  # "logg" (the whole log) or "strom" (one stream; checkpoints not checked)
    hendelser: int  # events checked
    strommer: int  # streams checked
    til_posisjon: int  # the last position checked
    sekunder: float
    lenkefeil: list[Lenkefeil]
    antall_lenkefeil: int  # all of them; `lenkefeil` lists at most `maks_feil`
    sjekkpunkter: int  # checkpoints checked
    sjekkpunktfeil: list[Sjekkpunktfeil]
    siste_sjekkpunkt: Sjekkpunkt | None
    algoritme: str = "Ed25519"
    offentlig_nokkel: str = ""  # hex of the raw public key that verifies the signatures


class LogBroken(Exception):
    """A checkpoint was refused: events of its new segment do not hold their links."""

    def __init__(self, feil: list[Lenkefeil]) -> None:
        super().__init__(f"{len(feil)} events of the new segment do not hold their links; not signed")
        self.feil = feil


def _sjekkpunkt(r: asyncpg.Record) -> Sjekkpunkt:
    return Sjekkpunkt(
        nr=r["nr"], posisjon=r["posisjon"], antall=r["antall"], segment=bytes(r["segment"]).hex(),
        sammendrag=bytes(r["sammendrag"]).hex(), nokkel_id=r["nokkel_id"], signatur=bytes(r["signatur"]).hex(),
        opprettet=r["opprettet"],
    )


# --- the walk -----------------------------------------------------------------------------------------


class _Kjede:
    """Per-stream heads, the failures found, and the running segment digest."""

    def __init__(self, maks_feil: int | None) -> None:
        self.hoder: dict[Any, tuple[int, bytes]] = {}
        self.feil: list[Lenkefeil] = []
        self.antall_feil = 0
        self.maks_feil = maks_feil
        self.segment = hashlib.sha256()
        self.antall = 0

    def kjor(self, rows: list[asyncpg.Record], grense: int | None = None) -> int:
        """Check `rows` (notification order) up to position `grense` (inclusive); how many were taken.

        The hot loop of a verification: the stored link is parsed (`link_of`) only when the row's prefix
        is not exactly the one the recomputed link gives; the segment's entries are hashed per batch."""
        n = len(rows) if grense is None else bisect.bisect_right(rows, grense, key=_nid)
        hoder, feil = self.hoder, self._feil
        beregn, les, prefiks, pakk, null, ny = compute_link, link_of, PREFIX, _NID, ZERO_LINK, (0, ZERO_LINK)
        hode, hale = _PREFIX_HODE, _PREFIX_HALE
        ledd: list[bytes] = []
        legg_til = ledd.append
        for nid, oid, versjon, topic, state in rows[:n] if n < len(rows) else rows:
            forrige_v, forrige = hoder.get(oid, ny)
            beregnet = beregn(forrige, oid, versjon, topic, state[prefiks:])
            if state[:prefiks] == hode + beregnet.hex().encode() + hale and versjon == forrige_v + 1:
                lagret = beregnet
            else:
                lagret = les(state) or null
                if lagret != beregnet or versjon != forrige_v + 1:
                    feil(oid, versjon, nid, "LINK_MISSING" if les(state) is None
                         else "VERSION_GAP" if versjon != forrige_v + 1 else "LINK_MISMATCH")
            hoder[oid] = (versjon, lagret)
            legg_til(pakk(nid) + beregnet + lagret)
        self.segment.update(b"".join(ledd))
        self.antall += n
        return n

    def _feil(self, oid: Any, versjon: int, nid: int, grunn: str) -> None:
        self.antall_feil += 1
        if self.maks_feil is None or len(self.feil) < self.maks_feil:
            self.feil.append(Lenkefeil(aggregat_id=as_uuid(oid), versjon=versjon, posisjon=nid, grunn=grunn))

    def avslutt_segment(self) -> bytes:
        digest = self.segment.digest()
        self.segment = hashlib.sha256()
        return digest


async def _batcher(
    conn: asyncpg.Connection, sql: str, fra: Any, til: int, batch: int, *args: Any, forhaand: bool = True
) -> AsyncIterator[list[asyncpg.Record]]:
    """Batches of `sql` (keyset on its first column: `> $1`, `<= $2`, `LIMIT $3`, then `args`). With
    `forhaand` the next batch is asked for before the current one is handed out (the server works while the
    caller hashes); the caller must not use `conn` meanwhile."""

    def hent(etter: Any) -> Awaitable[list[asyncpg.Record]]:
        return asyncio.ensure_future(conn.fetch(sql, etter, til, batch, *args))

    neste: Awaitable[list[asyncpg.Record]] | None = hent(fra)
    try:
        while neste is not None:
            rows = await neste
            neste = None
            fullt = len(rows) == batch
            if fullt and forhaand:
                neste = hent(rows[-1][0])
                await asyncio.sleep(0)  # let the task send the query before the caller takes the CPU
            if rows:
                yield rows
            if fullt and not forhaand:
                neste = hent(rows[-1][0])
    finally:
        if isinstance(neste, asyncio.Future):
            neste.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await neste


async def verify_log(
    conn: asyncpg.Connection,
    offentlig: Ed25519PublicKey,
    *,
    events_table: str = "forlop_events",
    stream: UUID | None = None,
    batch: int = BATCH,
    maks_feil: int | None = None,
    fremdrift: Fremdrift | None = None,
) -> Verification:
    """Walk every stream's chain (or one stream's) and recompute every checkpoint; see the module docstring."""
    start = time.monotonic()
    kjede = _Kjede(maks_feil)
    events = f'"{events_table}"'
    sjekkpunkter, hoy, totalt, sql = await _utvalg(conn, events_table, stream, fremdrift is not None)
    kontroll = _Sjekkpunktkontroll(offentlig)
    gjort = 0
    async for rows in _batcher(conn, sql, 0, hoy, batch, *([] if stream is None else [stream])):
        if stream is not None:
            rows = [(r[1], r[2], r[0], r[3], r[4]) for r in rows]
        while rows:
            i = kontroll.neste
            n = kjede.kjor(rows, sjekkpunkter[i]["posisjon"] if i < len(sjekkpunkter) else None)
            rows = rows[n:]
            if rows:  # the next row is past the checkpoint
                kontroll.lukk(sjekkpunkter[i], kjede)
        gjort = kjede.antall
        if fremdrift is not None:
            fremdrift(gjort, max(totalt, gjort), time.monotonic() - start)
    while kontroll.neste < len(sjekkpunkter):  # checkpoints at or past the last event (or past a deleted tail)
        kontroll.lukk(sjekkpunkter[kontroll.neste], kjede)
    if fremdrift is not None and gjort < totalt:
        fremdrift(totalt, totalt, time.monotonic() - start)
    til = hoy
    if stream is not None:
        til = await conn.fetchval(
            f"SELECT coalesce(max(notification_id), 0) FROM {events} WHERE originator_id = $1", stream
        )
    return Verification(
        ok=kjede.antall_feil == 0 and not kontroll.feil,
        omfang="logg" if stream is None else "strom",
        hendelser=kjede.antall,
        strommer=len(kjede.hoder),
        til_posisjon=til,
        sekunder=round(time.monotonic() - start, 3),
        lenkefeil=kjede.feil,
        antall_lenkefeil=kjede.antall_feil,
        sjekkpunkter=len(sjekkpunkter),
        sjekkpunktfeil=kontroll.feil,
        siste_sjekkpunkt=_sjekkpunkt(sjekkpunkter[-1]) if sjekkpunkter else None,
        offentlig_nokkel=raa(offentlig).hex(),
    )


async def _utvalg(
    conn: asyncpg.Connection, events_table: str, stream: UUID | None, telle: bool
) -> tuple[list[asyncpg.Record], int, int, str]:
    """What `verify_log` walks: (the checkpoints, the highest position, the events to walk for the progress
    bar (`telle`; always for one stream), the batch query over positions > $1 and <= $2, $3 rows)."""
    events = f'"{events_table}"'
    if stream is not None:
        totalt = await conn.fetchval(f"SELECT count(*) FROM {events} WHERE originator_id = $1", stream)
        # keyset on the version; the selected columns keep the walk's order (id first for _Kjede)
        sql = (
            f"SELECT originator_version, notification_id, originator_id, topic, state FROM {events} "
            "WHERE originator_id = $4 AND originator_version > $1 AND originator_version <= $2 "
            "ORDER BY originator_version LIMIT $3"
        )
        return [], 2**63 - 1, totalt, sql
    sjekkpunkter = await conn.fetch(f"SELECT * FROM {tabell(events_table)} ORDER BY nr")
    hoy = await conn.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {events}")
    totalt = 0 if not telle else await conn.fetchval(  # a full count only for the progress bar
        f"SELECT count(*) FROM {events} WHERE notification_id <= $1", hoy
    )
    sql = (
        f"SELECT notification_id, originator_id, originator_version, topic, state FROM {events} "
        "WHERE notification_id > $1 AND notification_id <= $2 ORDER BY notification_id LIMIT $3"
    )
    return list(sjekkpunkter), hoy, totalt, sql


class _Sjekkpunktkontroll:
    """Closes the checkpoints in turn against the chain walked up to each one's position."""

    def __init__(self, offentlig: Ed25519PublicKey) -> None:
        self.offentlig = offentlig
        self.offentlig_id = nokkel_id(offentlig)
        self.feil: list[Sjekkpunktfeil] = []
        self.neste = 0  # index of the next checkpoint to close
        self.forrige_sammendrag = ZERO_LINK
        self.forrige_posisjon = 0

    def lukk(self, r: asyncpg.Record, kjede: _Kjede) -> None:
        segment = kjede.avslutt_segment()
        grunner = []
        if r["nr"] != self.neste + 1 or r["posisjon"] <= self.forrige_posisjon:
            grunner.append("SEQUENCE_GAP")
        lagret = bytes(r["sammendrag"])
        if r["nokkel_id"] != self.offentlig_id:
            grunner.append("UNKNOWN_KEY")
        else:
            try:
                self.offentlig.verify(bytes(r["signatur"]), lagret)
            except InvalidSignature:
                grunner.append("SIGNATURE_INVALID")
        if sammendrag(self.forrige_sammendrag, r["nr"], r["posisjon"], r["antall"], r["opprettet"],
                      bytes(r["segment"])) != lagret:
            grunner.append("CHECKPOINT_ALTERED")
        if segment != bytes(r["segment"]) or kjede.antall != r["antall"]:
            grunner.append("LOG_CHANGED")
        if grunner:
            self.feil.append(Sjekkpunktfeil(nr=r["nr"], posisjon=r["posisjon"], grunner=grunner))
        self.neste += 1
        self.forrige_sammendrag, self.forrige_posisjon = lagret, r["posisjon"]


# --- writing a checkpoint -------------------------------------------------------------------------------


async def write_checkpoint(
    conn: asyncpg.Connection,
    nokkel: Ed25519PrivateKey,
    *,
    events_table: str = "forlop_events",
    batch: int = BATCH,
    naa: datetime | None = None,
) -> Sjekkpunkt | None:
    """Sign the events since the last checkpoint; None if there are none. Serialised across processes (an
    advisory lock in the writing transaction). Raises `LogBroken` if a new event does not hold its link."""
    events = f'"{events_table}"'
    t = tabell(events_table)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(LAAS))
        siste = await conn.fetchrow(f"SELECT nr, posisjon, antall, sammendrag FROM {t} ORDER BY nr DESC LIMIT 1")
        fra = siste["posisjon"] if siste else 0
        hoy = await conn.fetchval(f"SELECT max(notification_id) FROM {events}")
        if hoy is None or hoy <= fra:
            return None
        kjede = _Kjede(maks_feil=100)
        sql = (
            f"SELECT notification_id, originator_id, originator_version, topic, state FROM {events} "
            "WHERE notification_id > $1 AND notification_id <= $2 ORDER BY notification_id LIMIT $3"
        )
        if fra > 0:  # the heads, before the segment, of the streams the segment continues
            for oid, versjon, prefiks in await conn.fetch(
                f"SELECT DISTINCT ON (originator_id) originator_id, originator_version, "
                f"substring(state FROM 1 FOR {PREFIX}) FROM {events} "
                f"WHERE originator_id IN (SELECT originator_id FROM {events} "
                "                     WHERE notification_id > $1 AND notification_id <= $2) "
                "AND notification_id <= $1 ORDER BY originator_id, notification_id DESC",
                fra, hoy,
            ):
                kjede.hoder[oid] = (versjon, link_of(bytes(prefiks)) or ZERO_LINK)
        async for rows in _batcher(conn, sql, fra, hoy, batch):
            kjede.kjor(rows)
        if kjede.antall_feil:
            raise LogBroken(kjede.feil)
        nr = (siste["nr"] if siste else 0) + 1
        antall = (siste["antall"] if siste else 0) + kjede.antall
        segment = kjede.avslutt_segment()
        opprettet = naa or datetime.now(UTC)
        forrige = bytes(siste["sammendrag"]) if siste else ZERO_LINK
        digest = sammendrag(forrige, nr, hoy, antall, opprettet, segment)
        signatur = nokkel.sign(digest)
        rad = await conn.fetchrow(
            f"INSERT INTO {t} (nr, posisjon, antall, segment, sammendrag, nokkel_id, signatur, opprettet) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
            nr, hoy, antall, segment, digest, nokkel_id(nokkel.public_key()), signatur, opprettet,
        )
    return _sjekkpunkt(rad)


async def latest_checkpoint(conn: asyncpg.Connection | asyncpg.Pool, events_table: str = "forlop_events") -> Sjekkpunkt | None:
    r = await conn.fetchrow(f"SELECT * FROM {tabell(events_table)} ORDER BY nr DESC LIMIT 1")
    return None if r is None else _sjekkpunkt(r)
