"""Reads load through the store (the latest snapshot, then the events after it) on real PostgreSQL with field
encryption: a read answers what a fresh load does, sees what other processes write, and sees an erasure at
once, because the person's key is read in the same statement as the rows it decrypts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest

from domain.commands import Forleng, InnvilgLop, Personalia
from domain.config import STANDARD
from domain.errors import NotFound, PersonGlemt
from domain.ident import Fodselsnummer
from domain.person import Person
from domain.tiltakslop import Tiltakslop
from store.dto import lop_visning
from store.mapper import mapper_for
from store.recorder import AsyncPostgresRecorder, create_pool
from store.repository import EventStore
from store.service import CommandContext, Receipt, Service
from tests.hjelp import identer, ktx

KEY = b"reads-person-key"
A, B = identer(2)
FODT = date(1990, 8, 15)
PER = date(2025, 3, 1)


def tjeneste_for(recorder: AsyncPostgresRecorder) -> Service:
    # Its own mapper (key cache): as another API process on the same database.
    return Service(EventStore(recorder, mapper_for(KEY, kryptert=True), snapshot_every=3), STANDARD, KEY)


@pytest.fixture
async def to(database_url) -> AsyncIterator[tuple[Service, Service]]:
    pool = await create_pool(database_url)
    r1, r2 = AsyncPostgresRecorder(pool), AsyncPostgresRecorder(pool)
    try:
        yield tjeneste_for(r1), tjeneste_for(r2)
    finally:
        await r1.close()
        await r2.close()
        await pool.close()


async def innvilg(tjeneste: Service, ident: str) -> Receipt:
    cmd = InnvilgLop(
        person=Personalia(ident=ident, fodselsdato=FODT), tiltakstype="ARBEIDSTRENING",
        malgruppe="NEDSATT_ARBEIDSEVNE", fom=date(2025, 1, 1), tom=date(2025, 6, 30), nav_enhet="0315",
        vedtak_ref="V-1",
    )  # fmt: skip
    return await tjeneste.innvilg_lop(cmd, CommandContext(ktx()))


async def forleng(tjeneste: Service, lop: Receipt, ny_tom: date) -> Receipt:
    return await tjeneste.forleng(
        lop.id, Forleng(ny_tom=ny_tom, aarsak="NEDSATT_ARBEIDSEVNE"), CommandContext(ktx())
    )


async def fersk(tjeneste: Service, lop_id, per: date = PER):
    """What a load of the aggregate, step by step, answers."""
    return lop_visning(await tjeneste.store.get(lop_id), per, STANDARD)


async def test_reads_follow_writes_of_this_and_another_process(to):
    en, to_ = to
    lop = await innvilg(en, A)
    assert (await en.read_lop(lop.id, PER)) == await fersk(en, lop.id)
    assert (await to_.read_lop(lop.id, PER)).versjon == 1

    tom = date(2025, 7, 31)
    for i in range(4):  # past a snapshot (every 3)
        tom = date(2025, 7 + i, 28)
        await forleng(en, lop, tom)

    visning = await to_.read_lop(lop.id, PER)
    assert visning.versjon == 5 and visning.tom == tom
    assert visning == await fersk(to_, lop.id)
    assert (await to_.read_lop(lop.id, date(2025, 10, 1))) == await fersk(to_, lop.id, date(2025, 10, 1))
    assert (await to_.read_lop(lop.id, PER, versjon=2)).versjon == 2
    _, enhet, versjon = await to_.forlengelse(lop.id)  # the what-if reads the same state
    assert (enhet, versjon) == ("0315", 5)


async def test_an_extension_moves_the_persons_period_in_the_same_save(to):
    en, _ = to
    lop = await innvilg(en, A)
    pid = en.person_id(Fodselsnummer(A))

    await forleng(en, lop, date(2025, 8, 31))
    await forleng(en, lop, date(2025, 9, 30))

    record = await en.store.get(pid, Person)
    assert record.version == 4  # created, the grant, and each extension
    assert record.lop[lop.id].tom == date(2025, 9, 30)


async def test_an_erasure_in_another_process_is_seen_by_the_next_read(to):
    en, to_ = to
    lop_a, lop_b = await innvilg(en, A), await innvilg(en, B)
    assert (await to_.read_lop(lop_a.id, PER)).person.ident == A  # the other process has A's key cached

    await en.glem(Fodselsnummer(A), ktx("SYSTEM", None), "pseudonym")

    for tjeneste in (to_, en):
        with pytest.raises(PersonGlemt):
            await tjeneste.read_lop(lop_a.id, PER)
        with pytest.raises(PersonGlemt):
            await tjeneste.forlengelse(lop_a.id)
    with pytest.raises(PersonGlemt):
        await forleng(to_, lop_a, date(2025, 8, 31))  # and a command there, once a read has seen it
    assert (await to_.read_lop(lop_b.id, PER)).person.ident == B  # others untouched


async def test_unknown_and_wrong_kind_are_not_found(to):
    en, _ = to
    lop = await innvilg(en, A)
    with pytest.raises(NotFound):
        await en.read_garanti(lop.id, PER)
    assert (await en.read_lop(lop.id, PER)).id == lop.id


class Tellende:
    """The real pool, counting the statements sent through it (`fetch`)."""

    def __init__(self, pool) -> None:
        self.pool, self.sporringer = pool, 0

    async def fetch(self, *args, **kwargs):
        self.sporringer += 1
        return await self.pool.fetch(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.pool, name)


async def test_a_load_reads_the_keys_of_its_persons_in_the_same_statement(to):
    from store.encryption import person_ids

    en, to_ = to
    lop_a, lop_b = await innvilg(en, A), await innvilg(en, B)
    await forleng(en, lop_a, date(2025, 8, 31))
    recorder = to_.store.recorder
    # What the statement finds equals what the mapper finds in the same rows.
    loaded, nokler = await recorder.select_for_load_many_with(
        [lop_a.id, lop_b.id], await to_.store.mapper.keys_for_loading(recorder.pool)
    )
    states = [se.state for _, stored in loaded.values() for se in stored]
    assert len(states) == 3
    assert {k for k, _ in nokler} == person_ids(states) and len(nokler) == 2
    assert all(len(bytes(n)) == 32 for _, n in nokler)

    # A process that knows no key yet loads both cases in ONE statement and reads the persons.
    def ny_prosess() -> Service:
        tjeneste = tjeneste_for(recorder)
        tjeneste.store.recorder = AsyncPostgresRecorder(Tellende(recorder.pool))  # type: ignore[arg-type]
        return tjeneste

    tre = ny_prosess()
    a, b = await tre.store.get_flere((lop_a.id, Tiltakslop), (lop_b.id, Tiltakslop))
    assert (a.person.verdi, b.person.verdi, a.version, b.version) == (A, B, 2, 1)
    assert tre.store.recorder.pool.sporringer == 1
    assert (await tre.read_lop(lop_b.id, PER)).person.ident == B
    assert tre.store.recorder.pool.sporringer == 2  # a read is one statement too

    # An erased person's key comes back NULL in the same statement: the case loads as erased.
    await en.glem(Fodselsnummer(A), ktx("SYSTEM", None), "pseudonym")
    fire = ny_prosess()
    a, b = await fire.store.get_flere((lop_a.id, Tiltakslop), (lop_b.id, Tiltakslop))
    assert a.person is None and b.person.verdi == B
    assert fire.store.recorder.pool.sporringer == 1
    with pytest.raises(PersonGlemt):
        await fire.read_lop(lop_a.id, PER)
