"""The deadline views of rules.md §8 and §5.3, kept from the event log.

Two tables, one row per løp and one per guarantee:

- `v_lop`: FristOversikt (§8.1) with the review cadence (§8.2) and the rate schedule (§8.3) as columns, and
  Tiltakshistorikk (§8.4) as a query over it by person (every løp, closed and annulled ones too, with the
  `forgjenger_lop_id` link of a transition).
- `v_garanti`: UngdomsgarantiOversikt; KontaktpersonCaseload is a query over it (active guarantees per
  contact person).

Each row holds the columns the board filters and sorts on, and the aggregate's state as of its last event
(`tilstand`, encoded by the store's mapper). The fields that depend on the business date (`days_to_tom`,
`review_status`, `current_rate`, open alerts) are computed for the asked `per` by the same domain code that
judges commands, so the board shows exactly what `GET /tiltakslop/{id}?per=` shows. Applying an event
replays nothing: the row's state is decoded, the event applied, the row written back.

The person is stored only as the person record's id (a keyed hash), never as an identifier; with field
encryption (store/encryption.py) the identifier and birth date inside `tilstand` are encrypted under the
person's key too. Erasure: a case that decodes with its person erased is deleted and never written (so a
rebuild has no row for a forgotten person), and the person record's `PersonGlemt` deletes every row of that
person. The keys a batch uses are read `FOR SHARE` in the batch's transaction, so an erasure cannot commit
between the check and the write (store/keys.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.utils import get_topic

from domain.config import Regelkonfig
from domain.person import Person, person_id
from domain.tiltakslop import Tiltakslop
from domain.ungdomsgaranti import Ungdomsgaranti
from projections.runner import Projection, Rad
from store.encryption import er_glemt
from store.mapper import ForlopMapper, as_uuid

_LOP_PREFIX = f"{Tiltakslop.__module__}:{Tiltakslop.__qualname__}."
_GARANTI_PREFIX = f"{Ungdomsgaranti.__module__}:{Ungdomsgaranti.__qualname__}."
_SNAPSHOT_TOPIC = get_topic(Snapshot)
_GLEMT_TOPIC = f"{Person.__module__}:{Person.__qualname__}.PersonGlemt"
_MAKS_SATSENDRINGER = 8


def tabeller(suffix: str = "") -> tuple[str, str]:
    """The views' tables (store/migrations/0005_views.sql defines them; `suffix`: a rebuild's shadows)."""
    return f"v_lop{suffix}", f"v_garanti{suffix}"


class Oversikt(Projection):
    """The projection `oversikt`: applies a batch of events to `v_lop` and `v_garanti` (with a suffix: the
    shadow tables of a rebuild)."""

    navn = "oversikt"

    def __init__(self, mapper: ForlopMapper, konfig: Regelkonfig, person_nokkel: bytes) -> None:
        self.mapper = mapper
        self.konfig = konfig
        self.person_nokkel = person_nokkel

    def tabeller(self, suffix: str = "") -> tuple[str, ...]:
        return tabeller(suffix)

    # --- state encoding ---------------------------------------------------------------------------------

    def kod(self, aggregat: Any) -> bytes:
        """The aggregate's state; stamped with its last change (not the clock), so a rebuild gives equal bytes."""
        return self.mapper.encode_state(aggregat, aggregat.modified_on)

    async def glem(self, conn: Any, person: UUID) -> int:
        """Delete the rows of a forgotten person (by the person record's id) at once, without waiting for
        the runner to reach `PersonGlemt` (which deletes them too); the number of rows deleted."""
        antall = 0
        for tabell in tabeller():
            status = await conn.execute(f"DELETE FROM {tabell} WHERE person = $1", person)
            antall += int(status.split()[-1])
        return antall

    async def forbered(self, conn: Any, tilstander: Sequence[bytes]) -> None:
        """Load the keys `dekod` needs for these rows' `tilstand` (a no-op without field encryption)."""
        await self.mapper.prepare_reading(conn, (bytes(t) for t in tilstander))

    def dekod(self, aggregat_id: UUID, versjon: int, tilstand: bytes) -> Any:
        stored = StoredEvent(aggregat_id, versjon, _SNAPSHOT_TOPIC, bytes(tilstand))
        return self.mapper.to_domain_event(stored).mutate(None)

    # --- applying events --------------------------------------------------------------------------------

    async def anvend(
        self, conn: asyncpg.Connection, hendelser: Sequence[Notification], suffix: str = ""
    ) -> None:
        """Apply the events, in log order, and write each touched row once (in the caller's transaction)."""
        lop_tabell, garanti_tabell = tabeller(suffix)
        lop_ids = {as_uuid(h.originator_id) for h in hendelser if h.topic.startswith(_LOP_PREFIX)}
        garanti_ids = {as_uuid(h.originator_id) for h in hendelser if h.topic.startswith(_GARANTI_PREFIX)}
        glemte_personer = [h.originator_id for h in hendelser if h.topic == _GLEMT_TOPIC]
        if glemte_personer:  # before this batch's rows are written: a returning person's new case stays
            for tabell in (lop_tabell, garanti_tabell):
                await conn.execute(f"DELETE FROM {tabell} WHERE person = ANY($1::uuid[])", glemte_personer)
        if not lop_ids and not garanti_ids:
            return
        aggregater: dict[UUID, Any] = {}
        lagret = []
        for tabell, kolonne, ids in (
            (lop_tabell, "lop_id", lop_ids),
            (garanti_tabell, "garanti_id", garanti_ids),
        ):
            if ids:
                lagret += await conn.fetch(
                    f"SELECT {kolonne}, versjon, tilstand FROM {tabell} WHERE {kolonne} = ANY($1::uuid[])",
                    list(ids),
                )
        await self.mapper.prepare_reading(
            conn,
            [*(bytes(r[2]) for r in lagret), *(h.state for h in hendelser if h.originator_id in lop_ids | garanti_ids)],
            laas=True,
        )
        for r in lagret:
            aggregater[r[0]] = self.dekod(r[0], r[1], r[2])
        for h in hendelser:
            oid = as_uuid(h.originator_id)
            if oid not in lop_ids and oid not in garanti_ids:
                continue
            forrige = aggregater.get(oid)
            if forrige is not None and h.originator_version <= forrige.version:
                continue  # already applied (a rebuild catching up over what it has)
            aggregater[oid] = self.mapper.to_domain_event(h).mutate(forrige)
        borte = await self._glemte(conn, aggregater, laas=True)
        if borte:
            for tabell, kolonne in ((lop_tabell, "lop_id"), (garanti_tabell, "garanti_id")):
                await conn.execute(f"DELETE FROM {tabell} WHERE {kolonne} = ANY($1::uuid[])", list(borte))
        lop_rader = [self._lop_rad(aggregater[i]) for i in lop_ids if i in aggregater and i not in borte]
        garanti_rader = [self._garanti_rad(aggregater[i]) for i in garanti_ids if i in aggregater and i not in borte]
        if lop_rader:
            await conn.executemany(
                f"""INSERT INTO {lop_tabell} VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)
                ON CONFLICT (lop_id) DO UPDATE SET versjon=excluded.versjon, person=excluded.person,
                nav_enhet=excluded.nav_enhet, tiltakstype=excluded.tiltakstype, fom=excluded.fom, tom=excluded.tom,
                opptatt_tom=excluded.opptatt_tom, avsluttet=excluded.avsluttet, annullert=excluded.annullert,
                base_cap_tom=excluded.base_cap_tom, total_cap_tom=excluded.total_cap_tom,
                next_review_due=excluded.next_review_due, satsendringer=excluded.satsendringer,
                forgjenger_lop_id=excluded.forgjenger_lop_id, tilstand=excluded.tilstand""",
                lop_rader,
            )
        if garanti_rader:
            await conn.executemany(
                f"""INSERT INTO {garanti_tabell} VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
                ON CONFLICT (garanti_id) DO UPDATE SET versjon=excluded.versjon, person=excluded.person,
                nav_enhet=excluded.nav_enhet, fom=excluded.fom, tom=excluded.tom, aktiv=excluded.aktiv,
                aldersgrense_dato=excluded.aldersgrense_dato, kontaktperson=excluded.kontaktperson,
                next_samtale_due=excluded.next_samtale_due, kontaktperson_frist=excluded.kontaktperson_frist,
                tilstand=excluded.tilstand""",
                garanti_rader,
            )

    # --- bulk filling (a rebuild's first pass) ------------------------------------------------------------

    #: The topics `fyll` needs (prefixes): a rebuild's first pass reads only these. The person record's
    #: events are left out: a forgotten person is known by the key, not by `PersonGlemt`.
    emner = (_LOP_PREFIX, _GARANTI_PREFIX)

    async def fyll(self, conn: asyncpg.Connection, hendelser: Sequence[Rad], suffix: str) -> int:
        """A rebuild's first pass: `hendelser` are whole aggregates' events, each aggregate's in version
        order and together (read by aggregate id, not log order), for aggregates that have no row yet. Fold
        each in memory and COPY its final row into the (fresh) tables; the number of rows written.

        No row lock is taken: a person forgotten after the keys are read here has `PersonGlemt` after the
        pass's end position, and the rebuild's catch-up (`anvend`) deletes that person's rows."""
        await self.mapper.prepare_reading(conn, (h[3] for h in hendelser))
        aggregater: dict[UUID, Any] = {}
        hendelse = self.mapper.hendelse
        forrige_id, aggregat = None, None
        for oid, versjon, topic, state in hendelser:
            if oid != forrige_id:
                if aggregat is not None:
                    aggregater[forrige_id] = aggregat  # type: ignore[index]
                forrige_id, aggregat = oid, None
            aggregat = hendelse(oid, versjon, topic, state).mutate(aggregat)
        if aggregat is not None:
            aggregater[forrige_id] = aggregat  # type: ignore[index]
        borte = await self._glemte(conn, aggregater, laas=False)
        lop_rader, garanti_rader = [], []
        for i, a in aggregater.items():
            if i in borte:
                continue
            if isinstance(a, Tiltakslop):
                lop_rader.append(self._lop_rad(a))
            else:
                garanti_rader.append(self._garanti_rad(a))
        lop_tabell, garanti_tabell = tabeller(suffix)
        if lop_rader:
            await conn.copy_records_to_table(lop_tabell, records=lop_rader)
        if garanti_rader:
            await conn.copy_records_to_table(garanti_tabell, records=garanti_rader)
        return len(lop_rader) + len(garanti_rader)

    async def _glemte(self, conn: asyncpg.Connection, aggregater: dict[UUID, Any], *, laas: bool) -> set[UUID]:
        """The cases whose person is forgotten: read as erased, or (written before encryption, in clear)
        belonging to a person whose key is destroyed. Cases written in clear get their person's key now."""
        cipher = self.mapper.felt_cipher
        borte = {i for i, a in aggregater.items() if er_glemt(a)}
        if cipher is not None:
            levende = {i: person_id(self.person_nokkel, a.person) for i, a in aggregater.items() if i not in borte}
            ring = cipher.nokkelring
            await ring.last(conn, set(levende.values()), laas=laas)
            borte |= {i for i, pid in levende.items() if ring.er_glemt(pid)}
            uten_nokkel = [aggregater[i] for i, pid in levende.items() if i not in borte and ring.nokkel(pid) is None]
            await self.mapper.prepare_storing(conn, uten_nokkel)
        return borte

    def _lop_rad(self, lop: Tiltakslop) -> tuple[Any, ...]:
        return (
            lop.id,
            lop.version,
            person_id(self.person_nokkel, lop.person),
            lop.nav_enhet,
            lop.tiltakstype.value,
            lop.fom,
            lop.tom,
            lop.opptatt_tom,
            lop.avsluttet,
            lop.annullert,
            lop.base_cap_tom(),
            lop.total_cap_tom(),
            lop.neste_vurdering(self.konfig),
            satsendringer(lop),
            lop.forgjenger_lop_id,
            self.kod(lop),
        )

    def _garanti_rad(self, garanti: Ungdomsgaranti) -> tuple[Any, ...]:
        return (
            garanti.id,
            garanti.version,
            person_id(self.person_nokkel, garanti.person),
            garanti.nav_enhet,
            garanti.fom,
            garanti.avsluttet_tom,
            garanti.aktiv,
            garanti.aldersgrense_dato,
            garanti.kontaktperson,
            garanti.next_samtale_due(date.max, self.konfig),
            garanti.fom + timedelta(days=self.konfig.kontaktperson_frist_dager),
            self.kod(garanti),
        )


def satsendringer(lop: Tiltakslop) -> list[date]:
    """§8.3: every scheduled rate step-down of the løp, in order."""
    datoer: list[date] = []
    per = lop.fom
    while len(datoer) < _MAKS_SATSENDRINGER:
        neste = lop.neste_satsendring(per)
        if neste is None or neste <= per:
            break
        datoer.append(neste)
        per = neste
    return datoer
