"""The read buffer of `Service.les` (store.service.Lesebuffer) on real PostgreSQL with field encryption:
a read answers what a fresh load would, sees what other processes write, and sees an erasure at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest

from domain.config import STANDARD
from domain.errors import NotFound, PersonGlemt
from domain.ident import Fodselsnummer
from store.dto import lop_visning
from store.mapper import mapper_for
from store.recorder import AsyncPostgresRecorder, create_pool
from store.repository import EventStore
from store.service import Service
from tests.hjelp import identer, ktx

KEY = b"lesebuffer-person-key"
A, B = identer(2)
FODT = date(1990, 8, 15)
PER = date(2025, 3, 1)


def tjeneste_for(recorder: AsyncPostgresRecorder) -> Service:
    # Its own mapper (key cache) and buffer: as another API process on the same database.
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


async def innvilg(tjeneste: Service, ident: str):
    return await tjeneste.innvilg_lop(
        ktx(), person=ident, fodselsdato=FODT, tiltakstype="ARBEIDSTRENING", malgruppe="NEDSATT_ARBEIDSEVNE",
        fom=date(2025, 1, 1), tom=date(2025, 6, 30), nav_enhet="0315", vedtak_ref="V-1",
    )


async def fersk(tjeneste: Service, lop_id, per: date = PER):
    """What a read without the buffer answers."""
    return lop_visning(await tjeneste.store.get(lop_id), per, STANDARD)


async def test_reads_follow_writes_of_this_and_another_process(to):
    en, to_ = to
    lop = await innvilg(en, A)
    assert (await en.les(lop.id, "tiltakslop", PER)) == await fersk(en, lop.id)
    assert en.lesebuffer.treff == 1  # kept from the grant's save
    lest = await to_.les(lop.id, "tiltakslop", PER)  # the other process loads it, then keeps it
    assert lest.versjon == 1 and to_.lesebuffer.treff == 0

    tom = date(2025, 7, 31)
    for i in range(4):  # past a snapshot (every 3)
        await en.endre_lop(lop.id, "forleng", ktx(), ny_tom=date(2025, 7 + i, 28), aarsak="NEDSATT_ARBEIDSEVNE")
        tom = date(2025, 7 + i, 28)
    # The other process applies only the new events to what it kept, and answers what a load answers.
    visning = await to_.les(lop.id, "tiltakslop", PER)
    assert to_.lesebuffer.treff == 1
    assert visning.versjon == 5 and visning.tom == tom
    assert visning == await fersk(to_, lop.id)
    # Another business date is computed again; the same one is the same answer.
    assert (await to_.les(lop.id, "tiltakslop", date(2025, 10, 1))) == await fersk(to_, lop.id, date(2025, 10, 1))
    assert (await to_.les(lop.id, "tiltakslop", date(2025, 10, 1))).per == date(2025, 10, 1)
    # Reads at a version or an instant bypass the buffer.
    assert (await to_.les(lop.id, "tiltakslop", PER, versjon=2)).versjon == 2
    # The what-if reads the same state.
    _, enhet, versjon = await to_.forlengelse(lop.id)
    assert (enhet, versjon) == ("0315", 5)


async def test_an_erasure_in_another_process_is_seen_by_the_next_read(to):
    en, to_ = to
    lop_a, lop_b = await innvilg(en, A), await innvilg(en, B)
    assert (await to_.les(lop_a.id, "tiltakslop", PER)).person.ident == A
    assert (await to_.les(lop_a.id, "tiltakslop", PER)).person.ident == A
    assert to_.lesebuffer.treff == 1

    await en.glem(Fodselsnummer(A), ktx("SYSTEM", None), "pseudonym")
    with pytest.raises(PersonGlemt):
        await to_.les(lop_a.id, "tiltakslop", PER)
    with pytest.raises(PersonGlemt):
        await to_.les(lop_a.id, "tiltakslop", PER)
    with pytest.raises(PersonGlemt):
        await en.les(lop_a.id, "tiltakslop", PER)
    assert (await to_.les(lop_b.id, "tiltakslop", PER)).person.ident == B  # others untouched


async def test_unknown_and_wrong_kind_are_not_found(to):
    en, _ = to
    lop = await innvilg(en, A)
    with pytest.raises(NotFound):
        await en.les(lop.id, "ungdomsgaranti", PER)
    assert (await en.les(lop.id, "tiltakslop", PER)).id == lop.id


async def test_concurrent_reads_share_their_checks(to):
    import asyncio

    en, _ = to
    lop = [await innvilg(en, ident) for ident in identer(8, "010190")]
    await en.endre_lop(lop[0].id, "forleng", ktx(), ny_tom=date(2025, 8, 31), aarsak="NEDSATT_ARBEIDSEVNE")
    for k in lop:  # bring every cached state up to date
        await en.les(k.id, "tiltakslop", PER)
    foer = en.lesebuffer.sporringer
    svar = await asyncio.gather(*(en.les(k.id, "tiltakslop", PER) for k in lop * 3))
    assert [v.id for v in svar] == [k.id for k in lop * 3]
    assert svar[0].versjon == 2 and all(v.versjon == 1 for v in svar[1:8])
    assert en.lesebuffer.sporringer - foer <= 2  # the first alone, the other 23 together


async def test_a_command_loads_the_person_record_with_the_lop_and_checks_the_hint(to):
    from uuid import uuid4

    from domain.person import Person

    en, _ = to
    lop = await innvilg(en, A)
    pid = en.person_id(Fodselsnummer(A))
    assert en.lesebuffer.person_record(lop.id) == pid  # kept from the grant
    kall: list[tuple] = []
    get_flere = en.store.get_flere

    async def teller(*wanted, **kwargs):
        kall.append(wanted)
        return await get_flere(*wanted, **kwargs)

    en.store.get_flere = teller  # type: ignore[method-assign]
    await en.endre_lop(lop.id, "forleng", ktx(), ny_tom=date(2025, 8, 31), aarsak="NEDSATT_ARBEIDSEVNE")
    assert [w[1][0] for w in kall] == [pid]
    assert (await en.store.get(pid, Person)).version == 3  # the person's period moved in the same save
    # A wrong hint (another id) is not trusted: the person record is loaded by the løp's person.
    en.lesebuffer._bufret[lop.id].person_record = uuid4()
    await en.endre_lop(lop.id, "forleng", ktx(), ny_tom=date(2025, 9, 30), aarsak="NEDSATT_ARBEIDSEVNE")
    assert (await en.store.get(pid, Person)).version == 4
    assert (await en.les(lop.id, "tiltakslop", PER)).tom == date(2025, 9, 30)


async def test_concurrent_reads_of_what_is_not_kept_share_their_loads(to):
    import asyncio

    en, to_ = to
    lop = [await innvilg(en, ident) for ident in identer(8, "020290")]
    svar = await asyncio.gather(*(to_.les(k.id, "tiltakslop", PER) for k in lop * 2))
    assert [v.id for v in svar] == [k.id for k in lop * 2]
    for v in svar:
        assert v == await fersk(to_, v.id)
    assert to_.lesebuffer._last.batcher <= 2  # the first alone, the other 15 together
    assert len(to_.lesebuffer) == 8


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
    from domain.tiltakslop import Tiltakslop
    from store.encryption import person_ids

    en, to_ = to
    lop_a, lop_b = await innvilg(en, A), await innvilg(en, B)
    await en.endre_lop(lop_a.id, "forleng", ktx(), ny_tom=date(2025, 8, 31), aarsak="NEDSATT_ARBEIDSEVNE")
    recorder = to_.store.recorder
    # What the statement finds equals what the mapper finds in the same rows.
    loaded, nokler = await recorder.select_for_load_many_with(
        [lop_a.id, lop_b.id], await to_.store.mapper.nokler_til_lasting(recorder.pool)
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

    # An erased person's key comes back NULL in the same statement: the case loads as erased.
    await en.glem(Fodselsnummer(A), ktx("SYSTEM", None), "pseudonym")
    fire = ny_prosess()
    a, b = await fire.store.get_flere((lop_a.id, Tiltakslop), (lop_b.id, Tiltakslop))
    assert a.person is None and b.person.verdi == B
    assert fire.store.recorder.pool.sporringer == 1
    with pytest.raises(PersonGlemt):
        await fire.les(lop_a.id, "tiltakslop", PER)
