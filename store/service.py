"""The command service: load → one command → save, for both aggregates and the person boundary.

Each method loads what it needs, calls one domain command (which raises before anything is pending if
the rules refuse it), and saves every touched aggregate in one store transaction. Cross-stream rules are
judged on the per-person aggregate (`domain.person.Person`, docs/design.md), saved in that same
transaction, so two racing commands for one person cannot both commit.

Idempotency (LOP-12): a command with `kontekst.command_id` records (id, fingerprint, answer) in the same
transaction as its events. A repeat returns the first answer and stores nothing; the same id with another
fingerprint is refused with IDEMPOTENCY_KEY_REUSED. The record is in PostgreSQL, so it survives restarts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from domain.common import Kontekst
from domain.config import Regelkonfig
from domain.errors import (
    DomainError,
    InvalidRequest,
    NotFound,
    PersonGlemt,
    PreconditionFailed,
    VersionConflict,
)
from domain.ident import Fodselsnummer
from domain.person import NAMESPACE, Person, person_id
from domain.tiltakslop import OvergangTil, Tiltakslop
from domain.ungdomsgaranti import Ungdomsgaranti
from store.dto import (
    Forlengelsesmulighet,
    GarantiVisning,
    Historikk,
    LopVisning,
    forlengelse_visning,
    garanti_visning,
    hendelse_visning,
    lop_visning,
)
from store.encryption import er_glemt
from store.idempotency import DuplicateCommand, Kommando, LagretKommando, hent
from store.keys import TABELL as NOKKELTABELL
from store.mapper import link_of
from store.repository import EventStore

PERSON_REGELSETT = "PERSON"
log = logging.getLogger(__name__)

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True, slots=True)
class Receipt:
    """The answer to a command: the aggregate it answers for, its new version and the log position of the
    last event written for that aggregate. `opprettet` is true when the command created it (201)."""

    aggregat: str
    id: UUID
    versjon: int
    posisjon: int
    opprettet: bool = False
    per: date | None = None
    visning: LopVisning | GarantiVisning | None = field(default=None, compare=False)


class _Svar(msgspec.Struct, frozen=True):
    aggregat: str
    id: UUID
    versjon: int
    opprettet: bool
    per: date | None = None


Tilgang = Callable[[str], str | None]
"""An access check given the office (`nav_enhet`) of the aggregate a command acts on: raises to refuse,
or returns the office the actor acts for (recorded on the events)."""


def _med_tilgang(kontekst: Kontekst, tilgang: Tilgang | None, enhet: str) -> Kontekst:
    if tilgang is None:
        return kontekst
    aktor_enhet = tilgang(enhet)
    if aktor_enhet is None or aktor_enhet == kontekst.aktor.enhet:
        return kontekst
    return replace(kontekst, aktor=replace(kontekst.aktor, enhet=aktor_enhet))


def _verdi(obj: Any) -> Any:
    return obj.verdi if isinstance(obj, Fodselsnummer) else str(obj)


class _Gruppe:
    """Requests answered together: one batch (`kjor(requests) -> answers`) out at a time; requests queued
    while it is out share the next one (as group commit does for writes). The caller whose request started
    a batch leads until its own is answered, then hands what queued up meanwhile to a task."""

    def __init__(self, kjor: Callable[[list[Any]], Awaitable[list[Any]]], navn: str, maks: int = 500) -> None:
        self._kjor = kjor
        self._navn = navn
        self._maks = maks
        self._ko: list[tuple[Any, asyncio.Future[Any]]] = []
        self._leder = False
        self._tommer: asyncio.Task[None] | None = None
        self.batcher = 0  # batches run (tests, metrics)

    async def __call__(self, request: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._ko.append((request, future))
        if not self._leder:
            self._leder = True
            try:
                while not future.done():
                    await self._batch()
            finally:
                if self._ko:
                    self._tommer = asyncio.create_task(self._tom(), name=self._navn)
                else:
                    self._leder = False
        return await future

    async def _tom(self) -> None:
        try:
            while self._ko:
                await self._batch()
        finally:
            self._leder = False

    async def _batch(self) -> None:
        ko, self._ko = self._ko[: self._maks], self._ko[self._maks :]
        ko = [(r, f) for r, f in ko if not f.done()]
        if not ko:
            return
        self.batcher += 1
        try:
            svar = await self._kjor([r for r, _ in ko])
        except BaseException as e:
            for _, future in ko:
                if not future.done():
                    future.set_exception(e if isinstance(e, Exception) else RuntimeError("read cancelled"))
            if not isinstance(e, Exception):
                raise
            return
        for (_, future), utfall in zip(ko, svar, strict=True):
            if future.done():
                continue
            if isinstance(utfall, BaseException):
                future.set_exception(utfall)
            else:
                future.set_result(utfall)


@dataclass(slots=True)
class _Bufret:
    """One løp or guarantee as reads last saw it: the aggregate (never handed to a command or a save), its
    person record id and the person's key at the time (field encryption), and the last view computed."""

    aggregat: Any
    person_id: UUID | None
    nokkel: bytes | None
    visning: LopVisning | GarantiVisning | None = None
    person_record: UUID | None = None  # the id of the person's `Person` aggregate (commands prefetch it)


class Lesebuffer:
    """Reads of the current state from memory: the aggregates last read or written by this process, by id
    (least recently used out first), each brought up to date on every read by ONE query that returns the
    events stored after the cached version, and (field encryption) the person's key row as it is now.

    What a read answers is what `store.get` would: a read of an unchanged aggregate decodes and replays
    nothing, a changed one applies only the new events. The key row is read each time, so an erasure
    (the key destroyed) or a new key (a returning person) is seen by the very next read, which then takes
    the store's own path (and answers 410). Cached aggregates are for reads only: commands load their own."""

    def __init__(
        self, store: EventStore, maks: int = 8192, person_record: Callable[[Any], UUID | None] | None = None
    ) -> None:
        self.store = store
        self.maks = maks
        self._person_record = person_record
        self._bufret: dict[UUID, _Bufret] = {}
        recorder = store.recorder
        events = f'"{recorder.schema}"."{recorder.events_table}"'
        # Per id an index lookup (OFFSET 0 keeps the planner from turning it into a join over the table).
        self._sql = (
            "SELECT q.id, e.originator_version, e.topic, e.state FROM unnest($1::uuid[], $2::bigint[]) AS q(id, v) "
            "CROSS JOIN LATERAL (SELECT originator_version, topic, state FROM "
            f"{events} WHERE originator_id = q.id AND originator_version > q.v OFFSET 0) e"
        )
        self._sql_med_nokler = (
            f"{self._sql} UNION ALL SELECT person_id, -1, NULL, nokkel FROM {NOKKELTABELL} "
            "WHERE person_id = ANY($3::uuid[])"
        )
        # Group reads: the checks (and the loads of what is not kept) of reads arriving while one query is
        # out go together in the next one.
        self._sjekk = _Gruppe(self._sjekk_alle, "forlop-group-read")
        self._last = _Gruppe(self._last_alle, "forlop-group-load")
        self.treff = 0  # reads answered from the buffer (tests, metrics)

    @property
    def sporringer(self) -> int:
        """Queries that checked kept aggregates (tests, metrics)."""
        return self._sjekk.batcher

    def __len__(self) -> int:
        return len(self._bufret)

    def glem(self, agg_id: UUID) -> None:
        self._bufret.pop(agg_id, None)

    def person_record(self, agg_id: UUID) -> UUID | None:
        """The person record id of a kept aggregate (a hint: the caller checks it against what it loads)."""
        bufret = self._bufret.get(agg_id)
        return None if bufret is None else bufret.person_record

    def husk(self, aggregat: Any) -> None:
        """Keep `aggregat` (after a load or a committed save; the caller lets go of it)."""
        if er_glemt(aggregat):
            self._bufret.pop(aggregat.id, None)
            return
        cipher = self.store.mapper.felt_cipher
        pid: UUID | None = None
        nokkel: bytes | None = None
        if cipher is not None:
            try:
                pid = cipher.person_id_av(aggregat.person)
                if pid is not None:
                    nokkel = cipher.nokkelring.nokkel(pid)
            except Exception:  # noqa: BLE001 - no key at hand: simply not kept
                return
            if pid is not None and nokkel is None:
                return
        bufret = self._bufret
        bufret.pop(aggregat.id, None)
        if len(bufret) >= self.maks:
            del bufret[next(iter(bufret))]
        record = None
        if self._person_record is not None:
            try:
                record = self._person_record(aggregat)
            except Exception:  # noqa: BLE001 - only a hint
                record = None
        bufret[aggregat.id] = _Bufret(aggregat, pid, nokkel, None, record)

    async def hent(self, agg_id: UUID, cls: type[A]) -> _Bufret:
        """The current state of `agg_id` (NotFound as `store.get`), kept for the next read."""
        bufret = self._bufret.get(agg_id)
        if bufret is not None and isinstance(bufret.aggregat, cls):
            if await self._oppdater(agg_id, bufret):
                self._bufret[agg_id] = self._bufret.pop(agg_id, bufret)  # most recently used
                self.treff += 1
                return bufret
        self._bufret.pop(agg_id, None)
        aggregat = await self._last((agg_id, cls))
        self.husk(aggregat)
        return self._bufret.get(agg_id) or _Bufret(aggregat, None, None)

    async def _sjekk_alle(self, ko: list[tuple[UUID, int, UUID | None]]) -> list[list[Any]]:
        """For each (id, version, person id): (version, topic, state) of the events stored after that
        version, and (-1, None, key) for the person's key row; one query for all."""
        fra: dict[UUID, int] = {}
        personer: set[UUID] = set()
        for agg_id, versjon, pid in ko:
            fra[agg_id] = min(versjon, fra.get(agg_id, versjon))
            if pid is not None:
                personer.add(pid)
        pool = self.store.recorder.pool
        if personer:
            rows = await pool.fetch(self._sql_med_nokler, list(fra), list(fra.values()), list(personer))
        else:
            rows = await pool.fetch(self._sql, list(fra), list(fra.values()))
        hendelser: dict[UUID, list[Any]] = {}
        nokler: dict[UUID, Any] = {}
        for oid, v, topic, state in rows:
            if v == -1:
                nokler[oid] = state
            else:
                hendelser.setdefault(oid, []).append((v, topic, state))
        svar = []
        for agg_id, versjon, pid in ko:
            mine = [r for r in hendelser.get(agg_id, ()) if r[0] > versjon]
            if pid is not None and pid in nokler:
                mine.append((-1, None, nokler[pid]))
            svar.append(mine)
        return svar

    async def _last_alle(self, ko: list[tuple[UUID, type[Any]]]) -> list[Any]:
        """`store.get` (latest version) of each (id, class), in one load and at most one key query for
        all of them; NotFound for those that do not exist."""
        unike = list(dict.fromkeys(ko))
        lastet = dict(zip(unike, await self.store.get_flere(*unike), strict=True))
        return [lastet[k] if lastet[k] is not None else NotFound("aggregate not found", id=str(k[0])) for k in ko]

    async def _oppdater(self, agg_id: UUID, bufret: _Bufret) -> bool:
        """Bring `bufret` up to what is stored; False if only the store's own path can (a new or destroyed
        key, a gap, anything unexpected)."""
        recorder = self.store.recorder
        rows = await self._sjekk((agg_id, bufret.aggregat.version, bufret.person_id))
        nye = []
        nokkel_sett = False
        mapper = self.store.mapper
        for v, topic, state in rows:
            if v == -1:
                nokkel = None if state is None else bytes(state)
                if nokkel is None or nokkel != bufret.nokkel:
                    if mapper.felt_cipher is not None and bufret.person_id is not None:
                        # The key row as just read, cached as `KeyRing.last` would: the store's path
                        # below sees the erasure (or the new key) too, however fresh its cached key.
                        mapper.felt_cipher.nokkelring.sett(bufret.person_id, nokkel)
                    return False  # forgotten, or a new key: the cached plaintext is no longer readable
                nokkel_sett = True
            else:
                nye.append((v, topic, state))
        if bufret.person_id is not None and not nokkel_sett:
            return False
        if not nye:
            return True
        try:
            if mapper.felt_cipher is not None and bufret.person_id is not None:
                # The key row as just read (cached as `KeyRing.last` would): the new events decode
                # without another round trip.
                mapper.felt_cipher.nokkelring.sett(bufret.person_id, bufret.nokkel)
            await mapper.forbered_lesing(recorder.pool, [bytes(state) for _, _, state in nye])
            aggregat = bufret.aggregat
            for v, topic, state in sorted(nye, key=lambda r: r[0]):
                if v <= aggregat.version:  # another read brought it this far meanwhile
                    continue
                if v != aggregat.version + 1:
                    return False
                aggregat = mapper.to_domain_event(StoredEvent(agg_id, v, topic, bytes(state))).mutate(aggregat)
            bufret.aggregat = aggregat
            bufret.visning = None
        except Exception:  # noqa: BLE001 - the store's own path decides (and raises what it raises)
            log.debug("read buffer: fast-forward failed; loading", exc_info=True)
            return False
        return not er_glemt(bufret.aggregat)


class Service:
    def __init__(self, store: EventStore, konfig: Regelkonfig, person_nokkel: bytes) -> None:
        self.store = store
        self.konfig = konfig
        self._person_nokkel = person_nokkel
        self.lesebuffer = Lesebuffer(store, person_record=self._person_record_av)

    def _person_record_av(self, aggregat: Any) -> UUID | None:
        person = getattr(aggregat, "person", None)
        return self.person_id(person) if isinstance(person, Fodselsnummer) else None

    # --- identity -----------------------------------------------------------------------------------

    def person_id(self, person: Fodselsnummer) -> UUID:
        return person_id(self._person_nokkel, person)

    def avtrykk(self, command: str, **fields: Any) -> str:
        """The fingerprint stored with an idempotency key: keyed (HMAC), since a body names a person."""
        body = msgspec.json.encode({"command": command, **fields}, enc_hook=_verdi, order="sorted")
        return hmac.new(self._person_nokkel, body, hashlib.sha256).hexdigest()

    def _avtrykk_for(self, kontekst: Kontekst, command: str, **fields: Any) -> str | None:
        """The fingerprint of an idempotent command; None without an idempotency key (nothing compares it)."""
        return self.avtrykk(command, **fields) if kontekst.command_id else None

    @staticmethod
    def _ny_id(kontekst: Kontekst, salt: str = "") -> UUID:
        """An idempotent command creates the same id on every try; others get a fresh one."""
        if kontekst.command_id:
            return uuid.uuid5(NAMESPACE, f"{kontekst.command_id}/{salt}")
        return uuid.uuid4()

    # --- reads --------------------------------------------------------------------------------------

    async def hent_lop(
        self, lop_id: UUID, *, versjon: int | None = None, kjent_per: datetime | None = None
    ) -> Tiltakslop:
        return await self._hent(lop_id, Tiltakslop, versjon, kjent_per)

    async def hent_garanti(
        self, garanti_id: UUID, *, versjon: int | None = None, kjent_per: datetime | None = None
    ) -> Ungdomsgaranti:
        return await self._hent(garanti_id, Ungdomsgaranti, versjon, kjent_per)

    async def _hent(self, agg_id: UUID, cls: type[A], versjon: int | None, kjent_per: datetime | None) -> A:
        if kjent_per is not None:
            return await self.store.get_at_instant(agg_id, kjent_per, cls)
        aggregat = await self.store.get(agg_id, cls, version=versjon)
        if versjon is not None and aggregat.version < versjon:  # no such version yet: not the latest instead
            raise NotFound("the aggregate has no such version", id=agg_id, versjon=aggregat.version)
        return aggregat

    async def les(
        self,
        agg_id: UUID,
        aggregat: str,
        per: date,
        *,
        versjon: int | None = None,
        kjent_per: datetime | None = None,
    ) -> LopVisning | GarantiVisning:
        """A løp or guarantee for business date `per`; at a version, or as the system knew it at an instant."""
        cls = _KLASSER[aggregat]
        if versjon is not None or kjent_per is not None:
            return self.visning(await self._hent(agg_id, cls, versjon, kjent_per), per)
        bufret = await self.lesebuffer.hent(agg_id, cls)
        visning = bufret.visning
        if visning is None or visning.per != per or visning.versjon != bufret.aggregat.version:
            visning = bufret.visning = self.visning(bufret.aggregat, per)
        return visning

    async def forlengelse(self, lop_id: UUID) -> tuple[Forlengelsesmulighet, str, int]:
        """The what-if for a løp, the løp's office (for the access check) and its version (the ETag)."""
        lop = self._levende((await self.lesebuffer.hent(lop_id, Tiltakslop)).aggregat)
        return forlengelse_visning(lop, self.konfig), lop.nav_enhet, lop.version

    async def _person(self, person: Fodselsnummer, kontekst: Kontekst) -> Person:
        pid = self.person_id(person)
        try:
            return await self.store.get(pid, Person)
        except NotFound:
            return Person(id=pid, kontekst=kontekst, regelsett_id=PERSON_REGELSETT)

    async def _nokler_og_person(self, ny: Aggregate, kontekst: Kontekst) -> Person:
        """For a new grant: its person's key (a fresh one for a returning forgotten person) and the person
        record, concurrently (independent: the record holds no personal field)."""
        person, nokler = await asyncio.gather(
            self._person(ny.person, kontekst),  # type: ignore[attr-defined]
            self.store.sikre_nokler(ny, ny=True),
            return_exceptions=True,
        )
        for utfall in (nokler, person):
            if isinstance(utfall, BaseException):
                raise utfall
        return person  # type: ignore[return-value]

    async def _lop_og_person(self, lop_id: UUID, kommando: str) -> tuple[Tiltakslop, Person | None]:
        """The løp, and for a command that may move its period the person record too, in one round trip
        when this process knows whose løp it is (the read buffer's hint); else the person is None."""
        record = self.lesebuffer.person_record(lop_id) if kommando in _FLYTTER_PERIODEN else None
        if record is None:
            return await self.store.get(lop_id, Tiltakslop), None
        # The person record's id is also its key's (domain.person.person_id).
        lop, person = await self.store.get_flere((lop_id, Tiltakslop), (record, Person), personer=(record,))
        if lop is None:
            raise NotFound("aggregate not found", id=str(lop_id))
        return lop, person

    # --- the command pipeline -----------------------------------------------------------------------

    async def _utfor(
        self,
        kontekst: Kontekst,
        avtrykk: str | None,
        handling: Callable[[], Awaitable[tuple[Aggregate, bool, tuple[Aggregate, ...]]]],
        aggregat: str,
        per: date | None,
    ) -> Receipt:
        """Run `handling` (→ the answering aggregate, whether it was created, everything to save) once.

        The answering aggregate is saved last, so the save's last notification id is its position."""
        kommando_id = kontekst.command_id
        if (gjentatt := await self._forste_svar(kommando_id, avtrykk)) is not None:
            return gjentatt
        try:
            svarer, opprettet, endret = await handling()
        except DomainError:
            # A repeat racing its first try may load the state the first try just wrote, and be refused by
            # it (e.g. "ny_tom must be after the current tom"); once the first try has committed, it answers.
            if (gjentatt := await self._forste_svar(kommando_id, avtrykk)) is None:
                raise
            return gjentatt
        svar = _Svar(aggregat, svarer.id, svarer.version, opprettet, per)
        kommando = None
        if kommando_id is not None:
            kommando = Kommando(kommando_id, avtrykk or "", msgspec.json.encode(svar))
        andre = tuple(a for a in endret if a is not svarer)
        try:
            ids = await self.store.save(*andre, svarer, idempotency=kommando)
        except DuplicateCommand as dup:  # the same command raced itself: the first one answers
            return await self._gjentakelse(dup.stored, avtrykk)
        except VersionConflict:
            # A repeat racing its own first try writes the same ids and loses on the version; once the
            # first try has committed, its record answers.
            if (gjentatt := await self._forste_svar(kommando_id, avtrykk)) is None:
                raise
            return gjentatt
        visning = self.visning(svarer, per, ids[-1]) if per is not None else None
        for a in endret:
            if isinstance(a, (Tiltakslop, Ungdomsgaranti)):
                self.lesebuffer.husk(a)  # the next read of it starts from here
        return Receipt(aggregat, svarer.id, svarer.version, ids[-1], opprettet, per, visning)

    async def _forste_svar(self, kommando_id: Any, avtrykk: str | None) -> Receipt | None:
        """The stored answer of the command's first try (None: no command id, or no first try stored)."""
        if kommando_id is None:
            return None
        lagret = await hent(self.store.recorder.pool, kommando_id, self.store.recorder.schema)
        return None if lagret is None else await self._gjentakelse(lagret, avtrykk)

    async def _gjentakelse(self, lagret: LagretKommando, avtrykk: str | None) -> Receipt:
        if avtrykk is not None and lagret.fingerprint != avtrykk:
            raise DomainError("IDEMPOTENCY_KEY_REUSED", "the idempotency key was used before with another request")
        svar = msgspec.json.decode(lagret.svar, type=_Svar)
        posisjon = await self._posisjon(svar.id, svar.versjon)
        visning = None
        if svar.per is not None:
            aggregat = await self.store.get(svar.id, _KLASSER[svar.aggregat], version=svar.versjon)
            visning = self.visning(aggregat, svar.per, posisjon)
        return Receipt(svar.aggregat, svar.id, svar.versjon, posisjon, svar.opprettet, svar.per, visning)

    def visning(self, aggregat: Aggregate, per: date, posisjon: int | None = None) -> LopVisning | GarantiVisning:
        """The state of a løp or guarantee for business date `per`, as reads and command answers show it.
        A case whose person was forgotten is gone (410 PERSON_GLEMT); only its history remains."""
        self._levende(aggregat)
        if isinstance(aggregat, Tiltakslop):
            return lop_visning(aggregat, per, self.konfig, posisjon)
        if isinstance(aggregat, Ungdomsgaranti):
            return garanti_visning(aggregat, per, self.konfig, posisjon)
        raise TypeError(type(aggregat).__name__)

    async def _posisjon(self, agg_id: UUID, versjon: int) -> int:
        recorder = self.store.recorder
        posisjon = await recorder.pool.fetchval(
            f'SELECT notification_id FROM "{recorder.schema}"."{recorder.events_table}" '
            "WHERE originator_id = $1 AND originator_version = $2",
            agg_id,
            versjon,
        )
        return int(posisjon or 0)

    @staticmethod
    def _levende(aggregat: A) -> A:
        """No read or command on a case whose person was forgotten (its personal fields decode as None)."""
        if er_glemt(aggregat):
            raise PersonGlemt(id=str(aggregat.id))
        return aggregat

    @staticmethod
    def _sjekk_versjon(aggregat: Aggregate, forventet_versjon: int | None) -> None:
        """If-Match: the caller acts on the version it saw, or not at all."""
        if forventet_versjon is not None and aggregat.version != forventet_versjon:
            raise PreconditionFailed("the aggregate has changed since that version", versjon=aggregat.version)

    # --- Tiltaksløp ---------------------------------------------------------------------------------

    async def innvilg_lop(
        self, kontekst: Kontekst, *, avtrykk: str | None = None, per: date | None = None, **grant: Any
    ) -> Receipt:
        """TiltakslopInnvilget, judged against the person's other løp (LOP-8) in the same transaction."""

        async def handling() -> tuple[Aggregate, bool, tuple[Aggregate, ...]]:
            lop = Tiltakslop.innvilg(id=self._ny_id(kontekst), kontekst=kontekst, konfig=self.konfig, **grant)
            person = await self._nokler_og_person(lop, kontekst)
            person.registrer_lop(lop.id, lop.tiltakstype, lop.fom, lop.opptatt_tom, kontekst, lop.regelsett_id)
            return lop, True, (lop, person)

        avtrykk = avtrykk or self._avtrykk_for(kontekst, "innvilg_lop", **grant)
        return await self._utfor(kontekst, avtrykk, handling, "tiltakslop", per)

    async def endre_lop(
        self,
        lop_id: UUID,
        kommando: str,
        kontekst: Kontekst,
        *,
        forventet_versjon: int | None = None,
        avtrykk: str | None = None,
        per: date | None = None,
        tilgang: Tilgang | None = None,
        **felter: Any,
    ) -> Receipt:
        """Any command on one løp, by the aggregate method's name (`forleng`, `avkort`, `avslutt`, ...).

        `tilgang` is called with the løp's office right after loading, before any rule is judged. When the
        command moves the period the løp occupies, or annuls it, the person's record moves in the same
        transaction, judged against the person's other løp.
        """
        if kommando not in _LOP_KOMMANDOER:
            raise InvalidRequest(f"unknown command {kommando!r}")

        async def handling() -> tuple[Aggregate, bool, tuple[Aggregate, ...]]:
            lop, hentet = await self._lop_og_person(lop_id, kommando)
            ktx = _med_tilgang(kontekst, tilgang, lop.nav_enhet)
            self._levende(lop)
            self._sjekk_versjon(lop, forventet_versjon)
            for_fom, for_tom, for_annullert = lop.fom, lop.opptatt_tom, lop.annullert
            metode = getattr(lop, kommando)
            if kommando in _MED_KONFIG:
                metode(kontekst=ktx, konfig=self.konfig, **felter)
            else:
                metode(kontekst=ktx, **felter)
            endret: tuple[Aggregate, ...] = (lop,)
            if (lop.fom, lop.opptatt_tom, lop.annullert) != (for_fom, for_tom, for_annullert):
                pid = self.person_id(lop.person)
                if hentet is not None and hentet.id == pid:
                    person = hentet
                else:
                    person = await self._person(lop.person, ktx)
                if lop.annullert and not for_annullert:
                    person.annuller_lop(lop.id, ktx, lop.regelsett_id)
                else:
                    person.endre_periode(lop.id, lop.fom, lop.opptatt_tom, ktx, lop.regelsett_id)
                endret = (lop, person)
            return lop, False, endret

        avtrykk = avtrykk or self._avtrykk_for(kontekst, kommando, lop_id=lop_id, **felter)
        return await self._utfor(kontekst, avtrykk, handling, "tiltakslop", per)

    async def overgang(
        self,
        lop_id: UUID,
        kontekst: Kontekst,
        *,
        sluttdato: date | None,
        til: dict[str, Any],
        forventet_versjon: int | None = None,
        avtrykk: str | None = None,
        per: date | None = None,
        tilgang: Tilgang | None = None,
    ) -> Receipt:
        """LOP-14: end this løp (OVERGANG_TILTAK) and grant the next one atomically, or do neither.

        Both events share the correlation id; the answer is the new løp's. `tilgang` is asked for the
        source's office and for the new løp's."""
        if "person" in til or "fodselsdato" in til:
            raise InvalidRequest("til: the person is the source løp's and is not sent", felt="til.person")

        async def handling() -> tuple[Aggregate, bool, tuple[Aggregate, ...]]:
            fra = await self.store.get(lop_id, Tiltakslop)
            ktx = _med_tilgang(kontekst, tilgang, fra.nav_enhet)
            self._levende(fra)
            if tilgang is not None and isinstance(til.get("nav_enhet"), str):
                tilgang(til["nav_enhet"])
            self._sjekk_versjon(fra, forventet_versjon)
            fra.check_apen()  # LOP-6 first, before the new grant is judged
            ny = Tiltakslop.innvilg(
                id=self._ny_id(kontekst, "overgang"),
                person=fra.person,
                fodselsdato=fra.fodselsdato,
                forgjenger_lop_id=fra.id,
                overgang_fra_tiltakstype=fra.tiltakstype,
                kontekst=ktx,
                konfig=self.konfig,
                **til,
            )
            fra.avslutt(
                sluttdato=sluttdato,
                aarsak="OVERGANG_TILTAK",
                kontekst=ktx,
                overgang_til=OvergangTil(ny.tiltakstype, ny.id),
            )
            person = await self._person(fra.person, ktx)
            person.endre_periode(fra.id, fra.fom, fra.opptatt_tom, ktx, fra.regelsett_id)
            person.registrer_lop(ny.id, ny.tiltakstype, ny.fom, ny.opptatt_tom, ktx, ny.regelsett_id)
            return ny, True, (fra, person, ny)

        avtrykk = avtrykk or self._avtrykk_for(kontekst, "overgang", lop_id=lop_id, sluttdato=sluttdato, **til)
        return await self._utfor(kontekst, avtrykk, handling, "tiltakslop", per)

    # --- Ungdomsgaranti -----------------------------------------------------------------------------

    async def innvilg_garanti(
        self, kontekst: Kontekst, *, avtrykk: str | None = None, per: date | None = None, **grant: Any
    ) -> Receipt:
        """UngdomsgarantiInnvilget; one active guarantee per person (UG-D1) in the same transaction."""
        if isinstance(grant.get("person"), str):
            grant["person"] = Fodselsnummer(grant["person"])

        async def handling() -> tuple[Aggregate, bool, tuple[Aggregate, ...]]:
            garanti = Ungdomsgaranti.innvilg(id=self._ny_id(kontekst), kontekst=kontekst, konfig=self.konfig, **grant)
            person = await self._nokler_og_person(garanti, kontekst)
            person.registrer_garanti(garanti.id, kontekst, garanti.regelsett_id)
            return garanti, True, (garanti, person)

        avtrykk = avtrykk or self._avtrykk_for(kontekst, "innvilg_garanti", **grant)
        return await self._utfor(kontekst, avtrykk, handling, "ungdomsgaranti", per)

    async def endre_garanti(
        self,
        garanti_id: UUID,
        kommando: str,
        kontekst: Kontekst,
        *,
        forventet_versjon: int | None = None,
        avtrykk: str | None = None,
        per: date | None = None,
        tilgang: Tilgang | None = None,
        **felter: Any,
    ) -> Receipt:
        """Any command on one guarantee by method name; an end frees the person for a new one (UG-D1)."""
        if kommando not in _GARANTI_KOMMANDOER:
            raise InvalidRequest(f"unknown command {kommando!r}")

        async def handling() -> tuple[Aggregate, bool, tuple[Aggregate, ...]]:
            garanti = await self.store.get(garanti_id, Ungdomsgaranti)
            ktx = _med_tilgang(kontekst, tilgang, garanti.nav_enhet)
            self._levende(garanti)
            self._sjekk_versjon(garanti, forventet_versjon)
            if kommando == "koble_aktivitet" and garanti.aktiv and felter.get("tiltakslop_id") is not None:
                await self._sjekk_eget_lop(garanti, felter["tiltakslop_id"])
            var_aktiv = garanti.aktiv
            getattr(garanti, kommando)(kontekst=ktx, **felter)
            endret: tuple[Aggregate, ...] = (garanti,)
            if var_aktiv and not garanti.aktiv:
                person = await self._person(garanti.person, ktx)
                person.avslutt_garanti(garanti.id, ktx, garanti.regelsett_id)
                endret = (garanti, person)
            return garanti, False, endret

        avtrykk = avtrykk or self._avtrykk_for(kontekst, kommando, garanti_id=garanti_id, **felter)
        return await self._utfor(kontekst, avtrykk, handling, "ungdomsgaranti", per)

    async def _sjekk_eget_lop(self, garanti: Ungdomsgaranti, lop_id: UUID) -> None:
        """An activity may link only a løp that exists and belongs to the same person."""
        try:
            lop = await self.store.get(lop_id, Tiltakslop)
        except NotFound:
            raise InvalidRequest("tiltakslop_id: no such løp", felt="tiltakslop_id") from None
        if lop.person != garanti.person:
            raise InvalidRequest("tiltakslop_id: the løp belongs to another person", felt="tiltakslop_id")

    # --- person overview and history ----------------------------------------------------------------

    async def oversikt(
        self, person: Fodselsnummer, per: date
    ) -> tuple[list[LopVisning], list[GarantiVisning]]:
        """Every løp and guarantee of one person (POST /personer/oversikt), through the person record."""
        try:
            record = await self.store.get(self.person_id(person), Person)
        except NotFound:
            return [], []
        # A forgotten person's record has let go of its cases; a case read as erased is skipped all the same.
        lop = [
            lop_visning(a, per, self.konfig)
            for i in record.lop
            if not er_glemt(a := await self.store.get(i, Tiltakslop))
        ]
        garantier = [
            garanti_visning(a, per, self.konfig)
            for i in record.garantier
            if not er_glemt(a := await self.store.get(i, Ungdomsgaranti))
        ]
        return sorted(lop, key=lambda x: x.fom), sorted(garantier, key=lambda x: x.fom)

    async def historikk(self, agg_id: UUID, aggregat: str) -> tuple[Historikk, str]:
        """Every event of one stream in order, with position and hash-chain link; and the case's office."""
        historikk, naa = await self.historikk_og_aggregat(agg_id, aggregat)
        return historikk, naa.nav_enhet

    async def historikk_og_aggregat(self, agg_id: UUID, aggregat: str) -> tuple[Historikk, Any]:
        """The history and the aggregate's current state (its office for the access check, its person for
        the read log)."""
        cls = _KLASSER[aggregat]
        naa = await self.store.get(agg_id, cls)
        recorder = self.store.recorder
        rows = await recorder.pool.fetch(
            f'SELECT originator_version, topic, state, notification_id FROM "{recorder.schema}".'
            f'"{recorder.events_table}" WHERE originator_id = $1 ORDER BY originator_version',
            agg_id,
        )
        await self.store.mapper.forbered_lesing(recorder.pool, (bytes(row["state"]) for row in rows))
        elementer = []
        for row in rows:
            stored = StoredEvent(agg_id, row["originator_version"], row["topic"], bytes(row["state"]))
            event = self.store.mapper.to_domain_event(stored)
            elementer.append(hendelse_visning(event, row["notification_id"], link_of(stored.state) or b""))
        return Historikk(aggregat=aggregat, aggregat_id=agg_id, elementer=elementer), naa


    # --- erasure (GDPR) ------------------------------------------------------------------------------

    async def glem(self, person: Fodselsnummer, kontekst: Kontekst, person_pseudonym: str) -> Erasure:
        """Forget a person: destroy the key of their personal fields, then append `PersonGlemt` (the
        tombstone the relay publishes, and the projection's cue to delete the person's rows) on the person
        record. Idempotent: a repeat (or a retry after a crash between the two steps) appends nothing more
        once the key is gone and the record holds no cases."""
        cipher = self.store.mapper.felt_cipher
        if cipher is None:
            raise RuntimeError("erasure needs field encryption (the store's mapper has no field cipher)")
        pid = self.person_id(person)
        try:
            record: Person | None = await self.store.get(pid, Person)
        except NotFound:
            record = None
        odelagt = await cipher.nokkelring.glem(self.store.recorder.pool, pid)
        if record is None or not (odelagt or record.lop or record.garantier):
            return Erasure(pid, odelagt, None)
        record.glem(person_pseudonym, kontekst, PERSON_REGELSETT)
        ids = await self.store.save(record)
        return Erasure(pid, odelagt, ids[-1])


@dataclass(frozen=True, slots=True)
class Erasure:
    """The outcome of `Service.glem`: the person record's id, whether a live key was destroyed now, and
    the log position of the tombstone (None when there was nothing more to record)."""

    person_id: UUID
    nokkel_odelagt: bool
    posisjon: int | None


_KLASSER: dict[str, type[Any]] = {"tiltakslop": Tiltakslop, "ungdomsgaranti": Ungdomsgaranti}
_LOP_KOMMANDOER = frozenset(
    {
        "forleng",
        "avkort",
        "endre_malgruppe",
        "registrer_vurdering",
        "fastsett_sats",
        "innvilg_permisjon",
        "avslutt",
        "annuller",
        "korriger",
    }
)
_MED_KONFIG = frozenset({"forleng", "korriger"})
# Commands that usually move the period a løp occupies (or annul it), so the person record is needed too.
_FLYTTER_PERIODEN = frozenset({"forleng", "avkort", "avslutt", "annuller", "korriger"})
_GARANTI_KOMMANDOER = frozenset(
    {
        "tildel_kontaktperson",
        "planlegg_samtale",
        "registrer_samtale",
        "registrer_utdanningsvurdering",
        "registrer_samhandling",
        "tilby_arbeidsgiveroppfolging",
        "koble_aktivitet",
        "avslutt",
        "avslutt_ved_30",
        "korriger",
    }
)
