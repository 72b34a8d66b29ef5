"""`forlop seed --bulk`: the seed's events (workers/seed.py) judged in memory and written with COPY.

The commands are the seed plan's (`Planlegger`), run through the same `store.service.Service` use cases as
`forlop seed`, so the domain judges them and the same aggregates raise the same events. Only the store
differs: `MemoryStore` keeps the aggregates in memory, chains and encodes their pending events with the
store's own mapper (`store.mapper`: hash chain, per-person field encryption), takes snapshots where the
repository would (`snapshot_every`), creates the per-person keys (`store.keys`) and records the idempotency
rows of commands that carry a key. Each part of the plan is then written in one transaction with asyncpg's
`copy_records_to_table`: keys, events, snapshots and command rows, under the events table's EXCLUSIVE lock
that the recorder's ordering protocol takes (`store.recorder`, `forlop_save_forlop_events`), with the
notification ids drawn by the table's own sequence in log order (gap-free: nothing else can draw while the
lock is held), and `NOTIFY` on the table's channel as the recorder sends.

What differs from the command path, by necessity: the ids of løp and guarantees (`uuid4` in both paths),
the event and snapshot timestamps, the per-person keys (random in both; so the ciphertexts), and
notification ids. The order in the log follows the command path's rounds (the n-th command of every person
in round n) within each part; across parts, part by part.

Memory: a plan of more than `DEL` løp is drawn and run in parts of `DEL` løp (part k planned from seed
`seed + k * DEL_SEED`; identifiers stay unique across parts), each written when its commands have run, so
the process holds one part's aggregates at a time. `forlop seed` draws the same parts (`samlet_plan`), so
both paths run the same commands for the same arguments at any size.

A person whose record is already in the events table is refused (the part is rolled back, with a clear
message): bulk seeding adds people, it does not extend stored histories.
"""

from __future__ import annotations

import asyncio
import collections
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from domain.config import Regelkonfig
from domain.errors import NotFound
from domain.person import Person
from store.idempotency import TABLE as KOMMANDOER
from store.idempotency import Kommando
from store.keys import TABELL as NOKLER
from store.mapper import ZERO_LINK, ForlopMapper, chained_state
from store.migrations import EVENTS_TABLE, SCHEMA, SNAPSHOTS_TABLE
from store.recorder import AsyncPostgresRecorder
from store.repository import EventStore
from store.service import Service
from workers.seed import Kjoring, Plan, Resultat, planlegg

DEL = 5_000
"""Løp per part of a large plan (about 44,000 events): what one worker holds and hands back at a time."""
DEL_SEED = 1_000_003


class BulkRefused(RuntimeError):
    """The bulk seed would touch a stored history (a person already in the log): nothing of this part is
    written."""


@dataclass
class _Del:
    """What one part writes: rows in log order, keys and command records."""

    events: list[tuple[UUID, int, str, bytes]] = field(default_factory=list)
    snapshots: list[tuple[UUID, int, str, bytes]] = field(default_factory=list)
    nokler: list[tuple[UUID, bytes]] = field(default_factory=list)
    kommandoer: list[tuple[str, str, bytes]] = field(default_factory=list)
    personer: set[UUID] = field(default_factory=set)
    historikk: dict[UUID, list[StoredEvent]] = field(default_factory=dict)


class MemoryStore(EventStore):
    """The event store's interface over aggregates held in memory; `save` chains and encodes as
    `EventStore.save` does and collects the rows for COPY (`ta_del`). Single writer: no concurrency check
    is needed, there is no one to conflict with."""

    def __init__(
        self, recorder: AsyncPostgresRecorder, mapper: ForlopMapper, *, snapshot_every: int | None
    ) -> None:
        super().__init__(recorder, mapper, snapshot_every=snapshot_every)
        self._aggregater: dict[UUID, Aggregate] = {}
        self._hoder: dict[UUID, tuple[int, bytes]] = {}
        self._utlevert: dict[UUID, Aggregate] = {}
        self._nokler: set[UUID] = set()
        self._posisjon = 0
        self._del = _Del()

    # --- reading (from memory) -------------------------------------------------------------------------

    async def get(self, aggregate_id: UUID, cls: type[Any] | None = None, version: int | None = None) -> Any:
        aggregat = self._aggregater.get(aggregate_id)
        if aggregat is None or (cls is not None and not isinstance(aggregat, cls)):
            raise NotFound("aggregate not found", id=str(aggregate_id))
        if version is not None and version != aggregat.version:
            raise NotImplementedError("the bulk store holds the latest version only")
        self._utlevert[aggregate_id] = aggregat
        return aggregat

    async def get_current(self, aggregate_id: UUID, cls: type[Any] | None = None) -> Any:
        return await self.get(aggregate_id, cls)

    async def get_flere(self, *wanted: tuple[UUID, type[Any] | None]) -> list[Any]:
        out = []
        for agg_id, cls in wanted:
            try:
                out.append(await self.get(agg_id, cls))
            except NotFound:
                out.append(None)
        return out

    # --- writing (into the part) -------------------------------------------------------------------------

    async def ensure_keys(self, *aggregates: Aggregate, ny: bool = False) -> None:
        """A fresh key for each person not keyed yet (as `KeyRing.sikre` creates one), cached in the
        mapper's key ring and kept for COPY."""
        cipher = self.mapper.felt_cipher
        if cipher is None:
            return
        for aggregat in aggregates:
            pid = cipher.person_id_av(getattr(aggregat, "person", None))
            if pid is not None and pid not in self._nokler:
                nokkel = os.urandom(32)
                self._nokler.add(pid)
                cipher.nokkelring.sett(pid, nokkel)
                self._del.nokler.append((pid, nokkel))

    async def save(self, *aggregates: Aggregate, idempotency: Kommando | None = None) -> list[int]:
        await self.ensure_keys(*aggregates)
        ids: list[int] = []
        lagret: list[tuple[Aggregate, int, int]] = []
        for aggregat in {id(a): a for a in aggregates}.values():
            pending = aggregat.collect_events()
            if not pending:
                continue
            first = pending[0].originator_version
            _, link = self._hoder.get(aggregat.id, (0, ZERO_LINK))
            historikk = self._del.historikk.setdefault(aggregat.id, [])
            for domain_event in pending:
                topic, body = self.mapper.encode_body(domain_event)
                versjon = domain_event.originator_version
                link, state = chained_state(link, aggregat.id, versjon, topic, body)
                self._del.events.append((aggregat.id, versjon, topic, state))
                historikk.append(StoredEvent(aggregat.id, versjon, topic, state))
                self._posisjon += 1
                ids.append(self._posisjon)
            self._hoder[aggregat.id] = (pending[-1].originator_version, link)
            self._aggregater[aggregat.id] = aggregat
            if isinstance(aggregat, Person):
                self._del.personer.add(aggregat.id)
            lagret.append((aggregat, first, pending[-1].originator_version))
        if idempotency is not None:
            k = idempotency
            self._del.kommandoer.append((k.command_id, k.fingerprint, k.svar))
        for aggregat, first, last in lagret:
            if self.snapshot_every and last // self.snapshot_every > (first - 1) // self.snapshot_every:
                snapshot_cls = type(aggregat).Snapshot
                snapshot = self.mapper.to_stored_event(snapshot_cls.take(aggregat))
                self._del.snapshots.append(
                    (
                        UUID(str(snapshot.originator_id)),
                        snapshot.originator_version,
                        snapshot.topic,
                        snapshot.state,
                    )
                )
        return ids

    # --- one command at a time ---------------------------------------------------------------------------

    def steg_ferdig(self) -> None:
        """After each command: an aggregate it loaded and changed without saving (the command was refused
        after a change) goes back to its stored state, as a reload from the database would give."""
        for agg_id, aggregat in self._utlevert.items():
            if aggregat.pending_events:
                self._aggregater[agg_id] = self._gjenoppbygg(agg_id)
        self._utlevert.clear()

    def _gjenoppbygg(self, agg_id: UUID) -> Aggregate:
        aggregat: Any = None
        for se in self._del.historikk[agg_id]:
            aggregat = self.mapper.to_domain_event(se).mutate(aggregat)
        return aggregat

    def ta_del(self) -> _Del:
        """The rows written since the last part; the aggregates of that part are let go."""
        del_, self._del = self._del, _Del()
        for agg_id in del_.historikk:
            self._aggregater.pop(agg_id, None)
            self._hoder.pop(agg_id, None)
        return del_


# --- writing a part --------------------------------------------------------------------------------------

_EVENTS = f'"{SCHEMA}"."{EVENTS_TABLE}"'


async def skriv_del(conn: asyncpg.Connection, del_: _Del, *, lock_timeout: float = 30.0) -> int:
    """One part in one transaction, under the events table's EXCLUSIVE lock; the events written."""
    if not del_.events and not del_.kommandoer:
        return 0
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout * 1000)}ms'")
        await conn.execute(f"LOCK TABLE {_EVENTS} IN EXCLUSIVE MODE")
        if del_.personer:
            funnet = await conn.fetchval(
                f"SELECT count(*) FROM {_EVENTS} WHERE originator_id = ANY($1::uuid[])", list(del_.personer)
            )
            if funnet:
                raise BulkRefused(
                    f"{funnet} events of persons in this plan are already stored: bulk seeding adds new people "
                    "only (use another --seed, or an empty database)"
                )
        if del_.nokler:
            await conn.copy_records_to_table(
                NOKLER, records=del_.nokler, columns=["person_id", "nokkel"], schema_name=SCHEMA
            )
        await conn.copy_records_to_table(
            EVENTS_TABLE,
            records=del_.events,
            columns=["originator_id", "originator_version", "topic", "state"],
            schema_name=SCHEMA,
        )
        if del_.snapshots:
            await conn.copy_records_to_table(
                SNAPSHOTS_TABLE,
                records=del_.snapshots,
                columns=["originator_id", "originator_version", "topic", "state"],
                schema_name=SCHEMA,
            )
        if del_.kommandoer:
            await conn.copy_records_to_table(
                KOMMANDOER,
                records=del_.kommandoer,
                columns=["command_id", "fingerprint", "svar"],
                schema_name=SCHEMA,
            )
        await conn.execute(f'NOTIFY "{EVENTS_TABLE}"')
    return len(del_.events)


# --- running a plan -------------------------------------------------------------------------------------


async def kjor_del(
    tjeneste: Service, store: MemoryStore, plan: Plan, res: Resultat, *, flettet: bool
) -> None:
    """Every command of `plan` through the service, in the command path's order (rounds when `flettet`)."""
    personer = [Kjoring(pp) for pp in plan.personer]
    if flettet:
        runder = max((len(pp.steg) for pp in plan.personer), default=0)
        rekkefolge: Iterator[tuple[Kjoring, Any]] = (
            (p, p.pp.steg[n]) for n in range(runder) for p in personer if n < len(p.pp.steg)
        )
    else:
        rekkefolge = ((p, s) for p in personer for s in p.pp.steg)
    for person, steg in rekkefolge:
        await person.steg(tjeneste, steg, res)
        store.steg_ferdig()


def deler(
    lop: int,
    garantier: int,
    *,
    seed: int,
    i_dag: date,
    konfig: Regelkonfig,
    brukt: set[str] | None = None,
    del_lop: int = DEL,
) -> Iterator[Plan]:
    """The plan in parts of at most `del_lop` løp (guarantees in proportion); one part is `planlegg`'s plan."""
    brukt = set() if brukt is None else brukt
    antall = max(1, -(-lop // del_lop)) if lop else (1 if garantier else 0)
    gjort_lop = gjort_g = 0
    for k in range(antall):
        n_lop = (lop * (k + 1)) // antall - gjort_lop
        n_g = (garantier * (k + 1)) // antall - gjort_g
        gjort_lop, gjort_g = gjort_lop + n_lop, gjort_g + n_g
        yield planlegg(n_lop, n_g, seed=seed + k * DEL_SEED, i_dag=i_dag, konfig=konfig, brukt=brukt)


def samlet_plan(
    lop: int, garantier: int, *, seed: int, i_dag: date, konfig: Regelkonfig, del_lop: int = DEL
) -> Plan:
    """The parts of `deler` as one plan: what `forlop seed` runs, so both paths write the same people and
    commands for the same arguments at any size (up to `del_lop` løp it is `planlegg`'s plan)."""
    personer: list[Any] = []
    miks: Counter[str] = Counter()
    enheter: Counter[str] = Counter()
    kommandoer: Counter[str] = Counter()
    antall_lop = antall_garantier = 0
    for plan in deler(lop, garantier, seed=seed, i_dag=i_dag, konfig=konfig, del_lop=del_lop):
        personer += plan.personer
        miks.update(plan.miks)
        enheter.update(plan.enheter)
        kommandoer.update(plan.kommandoer)
        antall_lop += plan.antall_lop
        antall_garantier += plan.antall_garantier
    return Plan(personer, antall_lop, antall_garantier, miks, enheter, kommandoer)


@dataclass
class BulkResultat(Resultat):
    planlagt_lop: int = 0
    planlagt_garantier: int = 0
    deler: int = 0
    skrive_sekunder: float = 0.0  # of `sekunder`, in COPY transactions


@dataclass(frozen=True)
class _Oppsett:
    """What judging a part needs besides the plan (sent to worker processes)."""

    dsn: str
    konfig: Regelkonfig
    person_nokkel: bytes
    kryptert: bool
    snapshot_every: int | None
    flettet: bool


async def _dom_del_async(oppsett: _Oppsett, plan: Plan) -> tuple[_Del, Resultat]:
    """Run one part's commands through the service over a fresh `MemoryStore`; its rows and counts. The
    pool opens no connection unless a command needs the database (an idempotency key's first answer)."""
    from store.mapper import mapper_for
    from store.recorder import create_pool

    pool = await create_pool(oppsett.dsn, min_size=0, max_size=1)
    recorder = AsyncPostgresRecorder(pool)
    try:
        mapper = mapper_for(oppsett.person_nokkel, kryptert=oppsett.kryptert)
        store = MemoryStore(recorder, mapper, snapshot_every=oppsett.snapshot_every)
        res = Resultat()
        await kjor_del(
            Service(store, oppsett.konfig, oppsett.person_nokkel), store, plan, res, flettet=oppsett.flettet
        )
        return store.ta_del(), res
    finally:
        await recorder.close()
        await pool.close()


def _dom_del(oppsett: _Oppsett, plan: Plan) -> tuple[_Del, Resultat]:
    """`_dom_del_async` in a worker process."""
    return asyncio.run(_dom_del_async(oppsett, plan))


def standard_arbeidere() -> int:
    """Worker processes that judge parts while this one plans and writes (about a third of a core): one per
    core, at most 3."""
    return max(1, min(3, os.cpu_count() or 1))


async def seed_bulk(
    dsn: str,
    konfig: Regelkonfig,
    person_nokkel: bytes,
    *,
    lop: int,
    garantier: int,
    seed: int,
    i_dag: date,
    snapshot_every: int | None = 50,
    flettet: bool = True,
    kryptert: bool = False,
    brukt: set[str] | None = None,
    del_lop: int = DEL,
    arbeidere: int = 0,
    fremdrift: Callable[[Resultat, int, int], None] | None = None,
) -> BulkResultat:
    """Plan, judge in memory and COPY a data set into the database at `dsn` (migrated first).

    This process plans the parts (in order: identifiers stay unique) and writes them (in order); with
    `arbeidere` > 0 and more than one part, that many worker processes judge the parts meanwhile, else this
    process does."""
    from store.migrations import migrate

    await migrate(dsn)
    oppsett = _Oppsett(dsn, konfig, person_nokkel, kryptert, snapshot_every, flettet)
    res = BulkResultat()
    start = time.perf_counter()
    conn = await asyncpg.connect(dsn)

    async def skriv(utfall: tuple[_Del, Resultat]) -> None:
        del_, delres = utfall
        t = time.perf_counter()
        res.hendelser += await skriv_del(conn, del_)
        res.skrive_sekunder += time.perf_counter() - t
        res.lop += delres.lop
        res.garantier += delres.garantier
        res.kommandoer += delres.kommandoer
        res.avvist.update(delres.avvist)
        res.avvist_eksempler += delres.avvist_eksempler[: max(0, 20 - len(res.avvist_eksempler))]
        res.deler += 1
        res.sekunder = time.perf_counter() - start
        if fremdrift is not None:
            fremdrift(res, res.lop, lop)

    planer = deler(lop, garantier, seed=seed, i_dag=i_dag, konfig=konfig, brukt=brukt, del_lop=del_lop)
    try:
        if arbeidere <= 0 or lop <= del_lop:  # one part: starting a worker would only cost
            for plan in planer:
                res.planlagt_lop, res.planlagt_garantier = (
                    res.planlagt_lop + plan.antall_lop,
                    res.planlagt_garantier + plan.antall_garantier,
                )
                await skriv(await _dom_del_async(oppsett, plan))
        else:
            loop = asyncio.get_running_loop()
            with ProcessPoolExecutor(arbeidere, mp_context=multiprocessing.get_context("spawn")) as utforer:
                underveis: collections.deque[asyncio.Future[tuple[_Del, Resultat]]] = collections.deque()
                for plan in planer:
                    res.planlagt_lop, res.planlagt_garantier = (
                        res.planlagt_lop + plan.antall_lop,
                        res.planlagt_garantier + plan.antall_garantier,
                    )
                    underveis.append(loop.run_in_executor(utforer, _dom_del, oppsett, plan))
                    while len(underveis) > arbeidere or (underveis and underveis[0].done()):
                        await skriv(await underveis.popleft())
                while underveis:
                    await skriv(await underveis.popleft())
    finally:
        await conn.close()
    res.sekunder = time.perf_counter() - start
    return res


def bulk_sammendrag(res: BulkResultat) -> str:
    linjer = [
        f"bulk-seeded {res.lop} løp (planned {res.planlagt_lop}), {res.garantier} guarantees "
        f"(planned {res.planlagt_garantier}), {res.kommandoer} commands, {res.hendelser} events in {res.deler} "
        f"parts in {res.sekunder:.1f} s ({res.per_sekund:.0f} events/s; {res.skrive_sekunder:.1f} s in COPY)",
        f"refused: {sum(res.avvist.values())}" + (f" {dict(res.avvist)}" if res.avvist else ""),
        *(f"  {x}" for x in res.avvist_eksempler[:5]),
    ]
    return "\n".join(linjer)


async def running_scheduler(dsn: str) -> bool:
    """True if another session holds the scheduler's leader lock (workers/scheduler.py, workers/supervisor.py):
    a running `forlop up` or `forlop planlegger`, whose FYLT_30 commands would race a seed's."""
    from store.locks import lock_key
    from workers.scheduler import NAVN

    conn = await asyncpg.connect(dsn)
    try:
        # A one-key advisory lock on a bigint: classid = high 32 bits, objid = low 32 bits, objsubid 1.
        return bool(
            await conn.fetchval(
                "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid "
                "AND objsubid = 1 AND pid <> pg_backend_pid())",
                lock_key(NAVN),
            )
        )
    finally:
        await conn.close()
