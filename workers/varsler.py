"""The deadline-alert worker (contract.md §3 FORLOP_VARSLER, rules.md §8.5, §5.3, DATE-8).

Deciding and sending are two steps with an outbox (`forlop_varsler`) between them:

- **Deciding** (`bestem`) reads candidate rows of `v_lop` / `v_garanti` by their `frist` columns in date
  windows derived from the configured leads, decodes each candidate's state and keeps the alert types whose
  condition holds, computed by the same domain code as the reads (`Tiltakslop.varsler_med_frist(per)`, which
  `tilstand(per).open_alerts` lists; `Ungdomsgaranti.open_alerts(per)`). Each alert is stored once: its id
  is the UUIDv5 of (type, aggregat_id, frist), and the insert is `ON CONFLICT DO NOTHING`. The row's `per`
  is the alert's fire date (frist − lead, or the first overdue day), `dager_igjen` = frist − per.
- **Sending** (`publiser`) sends unsent rows in outbox order to `forlop.varsel.<TYPE>` with `Nats-Msg-Id` =
  varsel_id, pipelined, and marks each row `publisert` with the stream sequence of its ack.

`forsinket` (DATE-8) is true when the alert reached NATS, or was decided, on a business date after its fire
date. Precisely: at decision it is `decided on > per`; at each publish attempt the payload carries
`forsinket OR (business date of the attempt > per)`, and the row keeps the flag of the copy the stream
holds: the one sent, or, when the ack says the stream already had the id (an earlier attempt whose ack was
lost), the stored copy's flag read back from the stream. So the row, `GET /varsler` and the stream agree.

What the worker decides on a pass (business date `per`):
1. on start: everything open on `per` (a full pass: windows `frist ∈ [per, per + lead]`, overdue ones
   `due < per`), and the fire dates skipped since the last business date it acted on (catch-up, late);
2. on a new business date: the alerts whose fire date is in `(last date, per]` (one window per type);
3. every pass: the løp and guarantees whose events the views have applied since the last pass, evaluated
   on `per` (back-dated facts: a fire date already passed, so `forsinket`) and, after a gap, on their fire
   dates in the gap too (a conversation held while the worker was down does not hide the alerts before it).
The pass and its tracking row (`forlop_varsler_sporing`: business date, event position) commit together.
A pass runs at start, whenever the business date changes, and every `intervall` (60 s) otherwise.

`forlop varsler kjor --per D` (`run_once`) decides a full pass for D; on large views it splits the decoding
and evaluating by aggregate id over a forked process per CPU (`_delt_pass`: the same alerts, stored by this
process in the same order). The worker's own passes stay in its process: its start pass is the one full
pass it makes, and its daily passes read only the day's windows.

One replica is active (workers/supervisor.py: an advisory lock on a connection of its own); NATS being
down only pauses sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import multiprocessing
import operator
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from domain.config import Regelkonfig
from domain.dates import add_days, varseldato
from domain.tiltakslop import Tiltakslop
from domain.tiltakslop import Varseltype as LopVarsel
from domain.ungdomsgaranti import Ungdomsgaranti
from domain.ungdomsgaranti import Varseltype as GarantiVarsel
from projections.oversikt import Oversikt, satsendringer, tabeller
from projections.rebuild import WorkerFailed, i_egen_loop, id_andeler, per_cpu
from projections.runner import SPORING as PROJEKSJON_SPORING
from projections.runner import opprett as opprett_visninger
from store.encryption import er_glemt
from store.locks import lock_key, try_lock
from store.settings import Settings
from workers.nats_setup import (
    KONTROLL_SEKUNDER,
    VARSEL_SUBJECT,
    VARSLER,
    ensure_streams,
    har_tapt,
    quiet,
    stream_state,
)
from workers.supervisor import DATABASE_ERRORS, NATS_ERRORS, NatsUnavailable, Session, Supervisor

log = logging.getLogger(__name__)

NAVN = "varsler"
TABELL = "forlop_varsler"  # the outbox; with its tracking table made by store/migrations/0007_alert_outbox.sql
SPORING = "forlop_varsler_sporing"
PROJEKSJON = "oversikt"
# The namespace of `varsel_id` = uuid5(VARSEL_NAMESPACE, "<type>:<aggregat_id>:<frist>"): fixed forever,
# since subscribers and the stream's duplicate window rely on the same alert getting the same id.
VARSEL_NAMESPACE = UUID("4d881099-fb36-4418-baf5-90cd1726e847")
VARSELTYPER = frozenset(v.value for v in LopVarsel) | frozenset(v.value for v in GarantiVarsel)
# Alert types that fire on the first overdue day (no lead): fire date = frist + 1.
FORFALT = frozenset({"VURDERING_FORFALT", "SAMTALE_FORFALT", "KONTAKTPERSON_MANGLER"})
MAKS_OPPHENTING_DAGER = 400  # a longer gap is caught up by a full pass instead of day windows
OSLO = ZoneInfo("Europe/Oslo")

def forretningsdato(settings: Settings) -> Callable[[], date]:
    """The business date the workers act on: pinned by `--today`, else today in Europe/Oslo (read anew on
    each call, so a worker moves to the next date at midnight)."""
    return lambda: settings.today or datetime.now(OSLO).date()


def varsel_id(type: str, aggregat_id: UUID, frist: date) -> UUID:
    """contract.md §3: the UUIDv5 of (type, aggregat_id, frist); also the `Nats-Msg-Id`."""
    return uuid5(VARSEL_NAMESPACE, f"{type}:{aggregat_id}:{frist.isoformat()}")


def subject(type: str) -> str:
    return f"{VARSEL_SUBJECT}.{type}"


class VarselMelding(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The FORLOP_VARSLER payload (contract.md §3); `kontaktperson` only when the guarantee has one."""

    varsel_id: UUID
    type: str
    frist: date
    dager_igjen: int
    aggregat: str
    aggregat_id: UUID
    nav_enhet: str
    per: date
    forsinket: bool
    kontaktperson: str | None = None


@dataclass(frozen=True, slots=True)
class Varsel:
    """One decided alert (a row of the outbox)."""

    varsel_id: UUID
    type: str
    frist: date
    per: date
    aggregat: str
    aggregat_id: UUID
    nav_enhet: str
    kontaktperson: str | None
    forsinket: bool

    @property
    def dager_igjen(self) -> int:
        return (self.frist - self.per).days


async def opprett(conn: asyncpg.Connection | asyncpg.Pool, oversikt: Oversikt | None = None) -> None:
    """With `oversikt`, the tracking row of the views it reads (idempotent; the outbox, its tracking table
    and the views are made by the migrations)."""
    if oversikt is not None:
        await opprett_visninger(conn, oversikt)


# --- deciding -----------------------------------------------------------------------------------------------


def _fyringsdato(type: str, frist: date, konfig: Regelkonfig) -> date:
    """DATE-8: frist − lead; the overdue types fire on the first overdue day."""
    if type in FORFALT:
        return add_days(frist, 1)
    return varseldato(frist, konfig.lead_days.get(type, 0))


def _lop_varsler(lop: Tiltakslop, dag: date, konfig: Regelkonfig) -> list[tuple[str, date, str | None]]:
    """(type, frist, kontaktperson) of each alert open on `dag`, from the same code as GET /tiltakslop's
    `open_alerts` (`Tiltakslop.varsler_med_frist`, which `tilstand` uses)."""
    return [(v.value, frist, None) for v, frist in lop.varsler_med_frist(dag, konfig)]


def _garanti_varsler(
    garanti: Ungdomsgaranti, dag: date, konfig: Regelkonfig
) -> list[tuple[str, date, str | None]]:
    kontaktperson = garanti.kontaktperson_per(dag)
    return [
        (v.value, garanti.varsel_frist(v, dag, konfig), kontaktperson)
        for v in garanti.open_alerts(dag, konfig)
    ]


def _mulige_fyringsdager(aggregat: Any, fra: date, til: date, konfig: Regelkonfig) -> set[date]:
    """The days in [fra, til] on which one of the aggregate's alerts may first hold (its fire dates)."""
    frister: list[tuple[str, date | None]]
    if isinstance(aggregat, Tiltakslop):
        neste = aggregat.neste_vurdering(konfig)
        frister = [
            ("CAP_NAERMER_SEG", aggregat.total_cap_tom()),
            ("TOM_NAERMER_SEG", aggregat.tom),
            ("VURDERING_FORFALLER", neste),
            ("VURDERING_FORFALT", neste),
            *(("RATE_ENDRES", d) for d in satsendringer(aggregat)),
        ]
    else:
        frister = [(v.value, aggregat.varsel_frist(v, til, konfig)) for v in GarantiVarsel]
        # A conversation held during the gap moved the due date: the due date before it counts too.
        for holdt in aggregat.samtaler:
            if fra <= holdt <= til:
                forrige = aggregat.next_samtale_due(add_days(holdt, -1), konfig)
                frister += [("SAMTALE_FORFALLER", forrige), ("SAMTALE_FORFALT", forrige)]
    dager = {til}
    for type, frist in frister:
        if frist is not None and fra <= (dag := _fyringsdato(type, frist, konfig)) <= til:
            dager.add(dag)
    return dager


def _vindu(konfig: Regelkonfig, type: str, fra: date | None, til: date) -> tuple[date, date]:
    """The `frist` range of the alerts of `type` whose fire date lies in [fra, til]; with `fra` None, those
    open on `til` (the lead window, or every overdue one)."""
    if type in FORFALT:
        return (date.min if fra is None else add_days(fra, -1)), add_days(til, -1)
    lead = konfig.lead_days.get(type, 0)
    return (til if fra is None else add_days(fra, lead)), add_days(til, lead)


@dataclass(frozen=True, slots=True)
class _Kandidat:
    aggregat: str
    aggregat_id: UUID
    versjon: int
    tilstand: bytes


async def _kandidater_i_vinduer(
    conn: asyncpg.Connection,
    konfig: Regelkonfig,
    fra: date | None,
    til: date,
    andel: tuple[UUID | None, UUID | None] = (None, None),
) -> list[_Kandidat]:
    """Rows whose `frist` columns fall in the windows: plain range predicates on the columns (an index on
    each column serves them), OR-ed per table; with `andel`, only the ids in [andel[0], andel[1])."""
    lop, garanti = tabeller()
    ut: list[_Kandidat] = []
    # v_lop: closed (ended or annulled) løp raise no alert (DATE-8); nor do they after their tom.
    args: list[Any] = [til if fra is None else fra]
    deler = []
    for type, kolonne in (
        ("TOM_NAERMER_SEG", "tom"),
        ("CAP_NAERMER_SEG", "total_cap_tom"),
        ("VURDERING_FORFALLER", "next_review_due"),
        ("VURDERING_FORFALT", "next_review_due"),
    ):
        lo, hi = _vindu(konfig, type, fra, til)
        args += [lo, hi]
        deler.append(f"{kolonne} BETWEEN ${len(args) - 1} AND ${len(args)}")
    lo, hi = _vindu(konfig, "RATE_ENDRES", fra, til)
    args.append([lo + timedelta(days=i) for i in range((hi - lo).days + 1)])
    deler.append(f"satsendringer && ${len(args)}::date[]")
    rows = await conn.fetch(
        f"SELECT lop_id, versjon, tilstand FROM {lop} WHERE NOT annullert AND NOT avsluttet "
        f"AND (tom IS NULL OR tom >= $1) AND ({' OR '.join(deler)}){_andel_vilkar('lop_id', andel, args)}",
        *args,
    )
    ut += [_Kandidat("tiltakslop", r[0], r[1], bytes(r[2])) for r in rows]
    args = [til if fra is None else fra]
    deler = []
    for type, kolonne in (
        ("SAMTALE_FORFALLER", "next_samtale_due"),
        ("SAMTALE_FORFALT", "next_samtale_due"),
        ("ALDERSGRENSE_NAERMER_SEG", "aldersgrense_dato"),
        ("KONTAKTPERSON_MANGLER", "kontaktperson_frist"),
    ):
        lo, hi = _vindu(konfig, type, fra, til)
        args += [lo, hi]
        vilkar = f"{kolonne} BETWEEN ${len(args) - 1} AND ${len(args)}"
        if type == "KONTAKTPERSON_MANGLER" and fra is None:
            vilkar = f"(kontaktperson IS NULL AND {vilkar})"  # every overdue one: only those still without
        deler.append(vilkar)
    rows = await conn.fetch(
        f"SELECT garanti_id, versjon, tilstand FROM {garanti} WHERE (aktiv OR tom >= $1) "
        f"AND aldersgrense_dato > $1 AND ({' OR '.join(deler)}){_andel_vilkar('garanti_id', andel, args)}",
        *args,
    )
    ut += [_Kandidat("ungdomsgaranti", r[0], r[1], bytes(r[2])) for r in rows]
    return ut


def _andel_vilkar(kolonne: str, andel: tuple[UUID | None, UUID | None], args: list[Any]) -> str:
    """The predicates of an id range [fra, til) (None: unbounded), their values appended to `args`."""
    vilkar = ""
    for grense, op in zip(andel, (">=", "<"), strict=True):
        if grense is not None:
            args.append(grense)
            vilkar += f" AND {kolonne} {op} ${len(args)}"
    return vilkar


async def _kandidater_med_id(conn: asyncpg.Connection, ider: Collection[UUID]) -> list[_Kandidat]:
    lop, garanti = tabeller()
    ut: list[_Kandidat] = []
    for aggregat, tabell, kolonne in (
        ("tiltakslop", lop, "lop_id"),
        ("ungdomsgaranti", garanti, "garanti_id"),
    ):
        rows = await conn.fetch(
            f"SELECT {kolonne}, versjon, tilstand FROM {tabell} WHERE {kolonne} = ANY($1::uuid[])", list(ider)
        )
        ut += [_Kandidat(aggregat, r[0], r[1], bytes(r[2])) for r in rows]
    return ut


async def bestem(
    conn: asyncpg.Connection,
    per: date,
    oversikt: Oversikt,
    *,
    fra: date | None = None,
    ider: Collection[UUID] | None = None,
    arbeidere: int = 1,
    dsn: str | None = None,
) -> list[Varsel]:
    """Decide the alerts for business date `per` and store each once; returns those stored now.

    - default: every alert open on `per` (a full pass);
    - `fra`: the alerts whose fire date lies in [fra, per], each evaluated on its fire date (a new
      business date, or a catch-up over days the worker did not act on);
    - `ider`: only the given løp and guarantees (those changed since the last pass), evaluated on `per`,
      and with `fra` on their fire dates in [fra, per] too.
    `forsinket` is set when the fire date is before `per` (decided late).

    `arbeidere` > 1 splits a full pass by aggregate id over that many forked processes (`_delt_pass`, with
    connections of their own to `dsn`), which read under this transaction's snapshot and hand their
    decisions back; this process stores them all, in the same order and with the same result as deciding
    alone."""
    konfig = oversikt.konfig
    if ider is None and fra is None and arbeidere > 1:
        if dsn is None:
            raise ValueError("a split pass needs the dsn for its workers' connections")
        varsler = await _delt_pass(conn, dsn, per, oversikt, arbeidere)
    else:
        if ider is not None:
            kandidater = await _kandidater_med_id(conn, ider) if ider else []
        else:
            kandidater = await _kandidater_i_vinduer(conn, konfig, fra, per)
        varsler = await _vurder(conn, oversikt, kandidater, per, fra)
    if not varsler:
        return []
    # Outbox order: by fire date, then type and aggregate, so a pass publishes deterministically.
    rader = sorted(varsler, key=lambda v: (v.per, v.type, str(v.aggregat_id)))
    lagret = await conn.fetch(
        f"""INSERT INTO {TABELL} (varsel_id, type, frist, per, dager_igjen, aggregat, aggregat_id, nav_enhet,
                kontaktperson, forsinket, besluttet_per)
            SELECT u.varsel_id, u.type, u.frist, u.per, u.dager_igjen, u.aggregat, u.aggregat_id, u.nav_enhet,
                u.kontaktperson, u.forsinket, $11::date
            FROM unnest($1::uuid[], $2::text[], $3::date[], $4::date[], $5::int[], $6::text[], $7::uuid[],
                $8::text[], $9::text[], $10::bool[])
                WITH ORDINALITY AS u(varsel_id, type, frist, per, dager_igjen, aggregat, aggregat_id, nav_enhet,
                    kontaktperson, forsinket, i)
            ORDER BY u.i
            ON CONFLICT (varsel_id) DO NOTHING RETURNING varsel_id""",
        [v.varsel_id for v in rader],
        [v.type for v in rader],
        [v.frist for v in rader],
        [v.per for v in rader],
        [v.dager_igjen for v in rader],
        [v.aggregat for v in rader],
        [v.aggregat_id for v in rader],
        [v.nav_enhet for v in rader],
        [v.kontaktperson for v in rader],
        [v.forsinket for v in rader],
        per,
    )
    nye = {r[0] for r in lagret}
    return [v for v in rader if v.varsel_id in nye]


async def _vurder(
    conn: asyncpg.Connection, oversikt: Oversikt, kandidater: list[_Kandidat], per: date, fra: date | None
) -> list[Varsel]:
    """The alerts of the candidates, each once (their persons' keys loaded first)."""
    await oversikt.forbered(conn, [k.tilstand for k in kandidater])
    konfig = oversikt.konfig
    varsler: dict[UUID, Varsel] = {}
    for k in kandidater:
        aggregat = oversikt.dekod(k.aggregat_id, k.versjon, k.tilstand)
        if er_glemt(aggregat):  # its person was forgotten: no alerts about a case that is gone
            continue
        dager = {per} if fra is None else _mulige_fyringsdager(aggregat, fra, per, konfig)
        for dag in sorted(dager):
            apne = (
                _lop_varsler(aggregat, dag, konfig)
                if k.aggregat == "tiltakslop"
                else _garanti_varsler(aggregat, dag, konfig)
            )
            for type, frist, kontaktperson in apne:
                vid = varsel_id(type, k.aggregat_id, frist)
                if vid in varsler:
                    continue
                fyring = _fyringsdato(type, frist, konfig)
                varsler[vid] = Varsel(
                    varsel_id=vid,
                    type=type,
                    frist=frist,
                    per=fyring,
                    aggregat=k.aggregat,
                    aggregat_id=k.aggregat_id,
                    nav_enhet=aggregat.nav_enhet,
                    kontaktperson=kontaktperson,
                    forsinket=per > fyring,
                )
    return list(varsler.values())


# --- a full pass over a process per core ----------------------------------------------------------------------

# A worker's alerts travel as tuples of Varsel's fields: pickled, unpickled and rebuilt in 36 ms per 5,000
# against 58 ms for pickling and unpickling the dataclasses themselves.
_SOM_TUPPEL = operator.attrgetter(*(f.name for f in dataclasses.fields(Varsel)))


async def standard_arbeidere(conn: asyncpg.Connection) -> int:
    """The processes of a full pass by default: one per CPU, at most 4, and one per 20,000 rows of the views
    (the planner's estimate), as a rebuild has one per 25,000 events (`per_cpu`)."""
    lop, garanti = tabeller()
    rader = await conn.fetchval(
        "SELECT coalesce(sum(greatest(reltuples, 0)), 0)::bigint FROM pg_class WHERE oid = ANY($1::regclass[])",
        [lop, garanti],
    )
    return per_cpu(rader, 20_000)


async def _delt_pass(
    conn: asyncpg.Connection, dsn: str, per: date, oversikt: Oversikt, arbeidere: int
) -> list[Varsel]:
    """A full pass split by aggregate id over `arbeidere` forked processes (as a rebuild's first pass is:
    projections/rebuild.py). Each reads its share of the candidates under the snapshot this transaction
    exports (`pg_export_snapshot`: what this process would have read), decodes and evaluates them
    (`_vurder`) and sends its alerts back through a pipe. `conn` must be in a transaction."""
    snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
    ctx = multiprocessing.get_context("fork")
    ror: list[Any] = []
    prosesser: list[Any] = []
    try:
        for k, andel in enumerate(id_andeler(arbeidere)):
            mottak, avsender = ctx.Pipe(duplex=False)
            ror.append(mottak)
            p = ctx.Process(
                target=_andel_arbeider,
                args=(dsn, snapshot, per, oversikt, andel, avsender),
                name=f"forlop-varsler-{k}",
                daemon=True,
            )
            p.start()
            prosesser.append(p)
            avsender.close()  # only the worker holds the sending end now: its death without a word is EOF
        svar = await asyncio.gather(*(asyncio.to_thread(_motta, m) for m in ror))
    finally:
        for p in prosesser:
            if p.is_alive():
                p.kill()
            p.join()
        for m in ror:
            m.close()
    varsler: list[Varsel] = []
    for p, utfall in zip(prosesser, svar, strict=True):
        if not isinstance(utfall, list):
            raise WorkerFailed(f"alert pass worker {p.name} failed: {utfall or f'exit code {p.exitcode}'}")
        varsler += (Varsel(*felter) for felter in utfall)
    return varsler


def _motta(mottak: Any) -> list[tuple[Any, ...]] | str | None:
    """A worker's alerts, the name of the error it failed with, or None if it died without a word."""
    try:
        return mottak.recv()  # type: ignore[no-any-return]
    except EOFError:
        return None


def _andel_arbeider(
    dsn: str, snapshot: str, per: date, oversikt: Oversikt, andel: tuple[UUID | None, UUID | None], avsender: Any
) -> None:
    """A forked worker (its own event loop and connection: `i_egen_loop`); sends the alerts of its share, or
    the name of the error it failed with."""
    # What this worker inherited, out of its collections' sight: they would touch every object's header and
    # so copy the parent's pages (Python's docs on gc.freeze and fork; only this process is affected).
    gc.freeze()
    try:
        svar: Any = i_egen_loop(lambda: _andel(dsn, snapshot, per, oversikt, andel))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which fails the pass
        log.error("alert pass worker failed", exc_info=e)
        svar = type(e).__name__
    avsender.send(svar)
    avsender.close()


async def _andel(
    dsn: str, snapshot: str, per: date, oversikt: Oversikt, andel: tuple[UUID | None, UUID | None]
) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            kandidater = await _kandidater_i_vinduer(conn, oversikt.konfig, None, per, andel)
            return [_SOM_TUPPEL(v) for v in await _vurder(conn, oversikt, kandidater, per, None)]
    finally:
        await conn.close()


async def bestem_runde(
    conn: asyncpg.Connection, per: date, oversikt: Oversikt, events_table: str, *, start: bool = False
) -> int:
    """One pass of the worker for business date `per` (the module docstring's steps 1–3), in one
    transaction with its tracking row; the number of alerts stored. `start`: the worker has just started
    (a full pass too, which also covers a lead changed in the configuration)."""
    async with conn.transaction():
        await conn.execute(
            f"INSERT INTO {SPORING} (navn, per, posisjon) VALUES ($1, NULL, 0) ON CONFLICT DO NOTHING", NAVN
        )
        spor = await conn.fetchrow(f"SELECT per, posisjon FROM {SPORING} WHERE navn = $1 FOR UPDATE", NAVN)
        forrige_per, forrige_pos = spor["per"], spor["posisjon"]
        visning_pos = await conn.fetchval(
            f"SELECT posisjon FROM {PROJEKSJON_SPORING} WHERE projeksjon = $1", PROJEKSJON
        )
        visning_pos = max(forrige_pos, visning_pos or 0)
        antall = 0
        fra = None
        if forrige_per is not None and per > forrige_per:
            fra = add_days(forrige_per, 1)
            if (per - fra).days > MAKS_OPPHENTING_DAGER:
                start, fra = True, None
            else:
                antall += len(await bestem(conn, per, oversikt, fra=fra))
        if forrige_per is None or start:
            antall += len(await bestem(conn, per, oversikt))
        if forrige_per is not None and visning_pos > forrige_pos:
            ider = [
                r[0]
                for r in await conn.fetch(
                    f"SELECT DISTINCT originator_id FROM {events_table} "
                    "WHERE notification_id > $1 AND notification_id <= $2",
                    forrige_pos,
                    visning_pos,
                )
            ]
            antall += len(await bestem(conn, per, oversikt, fra=fra, ider=ider))
        await conn.execute(
            f"UPDATE {SPORING} SET per = greatest(per, $2), posisjon = $3, oppdatert = now() WHERE navn = $1",
            NAVN,
            per,
            visning_pos,
        )
    return antall


# --- sending ------------------------------------------------------------------------------------------------


async def publiser(
    conn: asyncpg.Connection | asyncpg.Pool,
    js: JetStreamContext,
    per: date,
    *,
    batch: int = 500,
    ack_tidsfrist: float = 5.0,
    uten_msg_id: set[UUID] | None = None,
) -> int:
    """Send up to `batch` unsent alerts in outbox order, pipelined (`publish_async`; the context's
    `publish_async_max_pending` bounds what is in flight), and mark each acknowledged one `publisert` with
    its stream sequence. `per` is the business date of this attempt (`forsinket` when after the fire date).
    Returns the number marked; raises NatsUnavailable when acks are missing (after marking the others)."""
    rows = await conn.fetch(
        f"SELECT varsel_id, type, frist, per, dager_igjen, aggregat, aggregat_id, nav_enhet, kontaktperson, "
        f"forsinket FROM {TABELL} WHERE publisert IS NULL ORDER BY nr LIMIT $1",
        batch,
    )
    if not rows:
        return 0
    sendt: list[tuple[VarselMelding, asyncio.Future[Any]]] = []
    try:
        for r in rows:
            melding = VarselMelding(
                varsel_id=r["varsel_id"],
                type=r["type"],
                frist=r["frist"],
                dager_igjen=r["dager_igjen"],
                aggregat=r["aggregat"],
                aggregat_id=r["aggregat_id"],
                nav_enhet=r["nav_enhet"],
                per=r["per"],
                forsinket=r["forsinket"] or per > r["per"],
                kontaktperson=r["kontaktperson"],
            )
            fut = await js.publish_async(
                subject(melding.type),
                msgspec.json.encode(melding),
                # An alert the stream lost while its duplicate window still remembers the id goes without
                # the header (the server would drop it); subscribers deduplicate by `varsel_id`.
                headers=None
                if uten_msg_id and melding.varsel_id in uten_msg_id
                else {"Nats-Msg-Id": str(melding.varsel_id)},
                wait_stall=ack_tidsfrist,
            )
            sendt.append((melding, fut))
    except (nats.errors.Error, TimeoutError):
        pass  # what was sent is marked below; the rest waits for the next attempt (NatsUnavailable)
    if sendt:
        # One deadline for the whole batch, so a NATS outage costs one timeout, not one per message.
        await asyncio.wait([f for _, f in sendt], timeout=ack_tidsfrist)
    merket: list[tuple[UUID, int, bool]] = []
    for melding, fut in sendt:
        if not fut.done():
            fut.cancel()
            continue
        if fut.cancelled() or fut.exception() is not None:
            continue
        ack = fut.result()
        forsinket = melding.forsinket
        if ack.duplicate:
            forsinket = await _lagret_flagg(js, ack.seq, forsinket)
        merket.append((melding.varsel_id, ack.seq, forsinket))
    if merket and uten_msg_id:
        uten_msg_id.difference_update(v for v, _, _ in merket)
    if merket:
        await conn.executemany(
            f"UPDATE {TABELL} SET publisert = now(), nats_sekvens = $2, forsinket = $3 "
            "WHERE varsel_id = $1 AND publisert IS NULL",
            merket,
        )
    if len(merket) < len(rows):
        raise NatsUnavailable(f"{len(merket)} of {len(rows)} alerts acknowledged")
    return len(merket)


async def _lagret_flagg(js: JetStreamContext, sekvens: int, sendt: bool) -> bool:
    """The `forsinket` of the copy the stream already holds (a retry whose first attempt landed)."""
    try:
        lagret = await js.get_msg(VARSLER, sekvens)
        return bool(msgspec.json.decode(lagret.data or b"{}").get("forsinket", sendt))
    except Exception:  # noqa: BLE001 - keep the flag sent; the stream may have dropped the message
        return sendt


async def kontroller_strom(conn: asyncpg.Connection | asyncpg.Pool, nc: NATS) -> set[UUID] | None:
    """Mark again as unsent every published alert the stream no longer holds although it acknowledged it
    (issue: JetStream losing acknowledged messages). Returns the ids to send without a Msg-Id (lost below
    the stream's first sequence or deleted inside it: the duplicate window still remembers them), or None
    when nothing was lost. Those past the stream's end go out as new, with their Msg-Id."""
    tilstand = await stream_state(nc, VARSLER)
    if not await har_tapt(conn, TABELL, "nats_sekvens", tilstand):
        return None
    if tilstand is None:
        await conn.execute(
            f"UPDATE {TABELL} SET publisert = NULL, nats_sekvens = NULL WHERE nats_sekvens IS NOT NULL"
        )
        return set()
    await conn.execute(
        f"UPDATE {TABELL} SET publisert = NULL, nats_sekvens = NULL WHERE nats_sekvens > $1",
        tilstand.last_seq,
    )
    inne = await conn.fetch(
        f"UPDATE {TABELL} SET publisert = NULL, nats_sekvens = NULL "
        "WHERE nats_sekvens < $1 OR nats_sekvens = ANY($2::bigint[]) RETURNING varsel_id",
        tilstand.first_seq,
        list(tilstand.slettet),
    )
    log.warning("the alert stream lost acknowledged alerts: sending them again", extra={"antall": len(inne)})
    return {r[0] for r in inne}


async def etterslep(conn: asyncpg.Connection | asyncpg.Pool) -> tuple[int, float]:
    """For /metrics: (unsent alerts, age in seconds of the oldest unsent one, 0 when none). Read from the
    database, so any process (the API) can report it."""
    try:
        row = await conn.fetchrow(
            f"SELECT count(*), coalesce(extract(epoch FROM now() - min(besluttet)), 0) FROM {TABELL} "
            "WHERE publisert IS NULL"
        )
    except asyncpg.UndefinedTableError:  # the worker has not run yet
        return 0, 0.0
    return int(row[0]), max(0.0, float(row[1]))


# --- the worker ---------------------------------------------------------------------------------------------


@dataclass
class VarselStatus:
    nats: bool = False
    per: date | None = None
    besluttet: int = 0
    publisert: int = 0
    siste_runde: float = field(default_factory=time.monotonic)


class VarselWorker:
    """Decides alerts every `interval` seconds (and at start) for the business date `i_dag()` and sends
    them whenever NATS is there. Several replicas may run; one is active (workers/supervisor.py)."""

    def __init__(
        self,
        dsn: str,
        nats_url: str | None,
        oversikt: Oversikt,
        i_dag: Callable[[], date],
        *,
        events_table: str = "forlop_events",
        interval: float = 60.0,
        poll_seconds: float = 1.0,
        batch: int = 500,
        window: int = 256,
        ack_timeout: float = 5.0,
        replicas: int = 1,
    ) -> None:
        self.dsn = dsn
        self.oversikt = oversikt
        self.i_dag = i_dag
        self.events_table = events_table
        self.interval = interval
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.window = window
        self.ack_timeout = ack_timeout
        self.replicas = replicas
        self.status = VarselStatus()
        self._js: tuple[NATS, JetStreamContext] | None = None  # the context of the client it was made on
        self._wake = asyncio.Event()
        self._next_check = 0.0  # when to compare the stream with what it acknowledged (0: at once)
        self._uten_msg_id: set[UUID] = set()
        self.supervisor = Supervisor(
            "alert worker",
            dsn,
            self._work,
            lock_name=NAVN,
            nats_url=nats_url,
            nats_name="forlop-varsler",
            on_nats_reconnected=self.check_stream,
            poll_seconds=poll_seconds,
            log=log,
        )

    @property
    def active(self) -> bool:
        return self.supervisor.active

    def wake(self) -> None:
        """Run a pass now (e.g. after a command, or in tests)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        await self.supervisor.run(stop)

    async def _work(self, session: Session) -> None:
        pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=2)
        try:
            await opprett(pool, self.oversikt)
            next_pass, started, tried_per = 0.0, False, None
            while not session.stop.is_set():
                per = self.i_dag()
                if time.monotonic() >= next_pass or per != tried_per:
                    next_pass, tried_per = time.monotonic() + self.interval, per
                    started = await self._decide(pool, per, start=not started) or started
                await self._send(pool, per, session)
                if not session.stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                    if self._wake.is_set():
                        self._wake.clear()
                        next_pass = 0.0
        finally:
            self.status.nats = False
            self._js = None
            await pool.close()

    async def _decide(self, pool: asyncpg.Pool, per: date, *, start: bool) -> bool:
        """One pass of deciding; False if it failed (it is retried next interval, sending goes on)."""
        try:
            async with pool.acquire() as conn:
                self.status.besluttet += await bestem_runde(conn, per, self.oversikt, self.events_table, start=start)
        except DATABASE_ERRORS:
            raise
        except Exception:  # say, a row that does not decode
            log.exception("deciding alerts failed", extra={"per": per.isoformat()})
            return False
        self.status.per = per
        self.status.siste_runde = time.monotonic()
        return True

    def _context(self, nc: NATS) -> JetStreamContext:
        if self._js is None or self._js[0] is not nc:
            self._js = (nc, nc.jetstream(publish_async_max_pending=self.window))
        return self._js[1]

    async def _send(self, pool: asyncpg.Pool, per: date, session: Session) -> None:
        nc = session.nats
        if nc is None:
            return
        js = self._context(nc)
        try:
            if not self.status.nats or time.monotonic() >= self._next_check:
                tapt = await kontroller_strom(pool, nc)
                if tapt:
                    self._uten_msg_id |= tapt
                await ensure_streams(js, self.replicas)
                session.nats_ok()  # it answered
                self.status.nats = True
                self._next_check = time.monotonic() + KONTROLL_SEKUNDER
            while n := await publiser(
                pool, js, per, batch=self.batch, ack_tidsfrist=self.ack_timeout, uten_msg_id=self._uten_msg_id
            ):
                self.status.publisert += n
                session.nats_ok()  # acks came
        except NATS_ERRORS as e:
            session.nats_lost(e)
            self.status.nats = False

    async def check_stream(self) -> None:
        """Compare the stream with what it acknowledged at the next step, as on every reconnect (one may
        follow a NATS restart that lost acknowledged writes): check before sending."""
        self._next_check = 0.0
        self._wake.set()


async def run_once(
    dsn: str,
    nats_url: str | None,
    oversikt: Oversikt,
    per: date,
    *,
    replicas: int = 1,
    ack_timeout: float = 5.0,
    arbeidere: int | None = None,
) -> tuple[int, int, int]:
    """`forlop varsler kjor --per`: decide everything open on `per` (over `arbeidere` processes; default
    `standard_arbeidere`) and, unless a running worker holds the lock (it sends them itself), send what is
    unsent. Returns (decided now, sent now, still unsent)."""
    conn = await asyncpg.connect(dsn)
    try:
        await opprett(conn, oversikt)
        arbeidere = await standard_arbeidere(conn) if arbeidere is None else arbeidere
        async with conn.transaction():
            besluttet = len(await bestem(conn, per, oversikt, arbeidere=arbeidere, dsn=dsn))
        sendt = 0
        if nats_url is not None and await try_lock(conn, NAVN):
            try:
                nc = await nats.connect(
                    nats_url.split(","),
                    connect_timeout=2,
                    max_reconnect_attempts=0,
                    name="forlop-varsler-cli",
                    error_cb=quiet,
                )
            except Exception as e:  # noqa: BLE001 - NATS down: the alerts stay in the outbox for the worker
                log.warning("alerts left in the outbox: nats not reachable", extra={"error": type(e).__name__})
                nc = None
            if nc is not None:
                try:
                    js = nc.jetstream()
                    await ensure_streams(js, replicas)
                    while n := await publiser(conn, js, per, ack_tidsfrist=ack_timeout):
                        sendt += n
                except (NatsUnavailable, nats.errors.Error, TimeoutError) as e:
                    log.warning("alerts left in the outbox", extra={"error": type(e).__name__})
                finally:
                    await nc.close()
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_key(NAVN))
        usendt, _ = await etterslep(conn)
        return besluttet, sendt, usendt
    finally:
        await conn.close()


def varsel_worker(settings: Settings, dsn: str, nats_url: str | None, oversikt: Oversikt) -> VarselWorker:
    """The alert worker `forlop up` runs (`settings.today` pins its business date)."""
    return VarselWorker(
        dsn,
        nats_url,
        oversikt,
        forretningsdato(settings),
        events_table=settings.events_table,
        replicas=settings.nats_replicas,
    )
