"""The command service on real PostgreSQL: cross-stream rules under races, atomic transitions,
idempotent commands, and refusals that store nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from uuid import UUID, uuid4

import pytest

from domain.common import Aktor, Kontekst
from domain.config import STANDARD
from domain.errors import DomainError, InvalidRequest, NotFound, PreconditionFailed, VersionConflict
from store.recorder import AsyncPostgresRecorder, create_pool
from store.repository import EventStore
from store.service import Service

IDENT = "15085012344"  # synthetic, valid mod-11
FODT = date(1990, 8, 15)


def ktx(command_id: str | None = None) -> Kontekst:
    return Kontekst(aktor=Aktor("Z990001", "0315"), correlation_id=uuid4(), command_id=command_id)


def arbeidstrening(fom=date(2025, 1, 1), tom=date(2025, 12, 31), **extra):
    return dict(
        person=IDENT,
        fodselsdato=FODT,
        tiltakstype="ARBEIDSTRENING",
        malgruppe="NEDSATT_ARBEIDSEVNE",
        fom=fom,
        tom=tom,
        nav_enhet="0315",
        vedtak_ref="VEDTAK-1",
        **extra,
    )


@pytest.fixture
async def tjeneste(database_url) -> AsyncIterator[Service]:
    pool = await create_pool(database_url)
    recorder = AsyncPostgresRecorder(pool)
    try:
        yield Service(EventStore(recorder), STANDARD, b"test-key")
    finally:
        await recorder.close()
        await pool.close()


async def count_events(tjeneste: Service) -> int:
    return await tjeneste.store.recorder.pool.fetchval("SELECT count(*) FROM forlop_events")


async def count_grants(tjeneste: Service) -> int:
    return await tjeneste.store.recorder.pool.fetchval(
        "SELECT count(*) FROM forlop_events WHERE topic LIKE '%TiltakslopInnvilget'"
    )


async def test_lop_8_two_racing_overlapping_grants_for_one_person_exactly_one_succeeds(tjeneste):
    grants = [arbeidstrening(), dict(arbeidstrening(), tiltakstype="AFT")]

    results = await asyncio.gather(
        *(tjeneste.innvilg_lop(ktx(), **g) for g in grants), return_exceptions=True
    )

    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(ok) == 1, results
    assert len(refused) == 1
    assert isinstance(refused[0], VersionConflict | DomainError)
    assert refused[0].code in ("VERSION_CONFLICT", "OVERLAPPING_MEASURE")
    assert await count_grants(tjeneste) == 1  # nothing of the loser is stored


async def test_lop_8_many_racing_grants_for_one_person_never_both_commit(tjeneste):
    results = await asyncio.gather(
        *(tjeneste.innvilg_lop(ktx(), **arbeidstrening()) for _ in range(8)), return_exceptions=True
    )

    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(getattr(r, "code", None) in (None, "VERSION_CONFLICT", "OVERLAPPING_MEASURE") for r in results)
    assert await count_grants(tjeneste) == 1


async def test_lop_8_overlapping_grant_after_the_first_is_refused_and_stores_nothing(tjeneste):
    await tjeneste.innvilg_lop(ktx(), **arbeidstrening())
    before = await count_events(tjeneste)

    with pytest.raises(DomainError) as err:
        await tjeneste.innvilg_lop(
            ktx(), **dict(arbeidstrening(fom=date(2025, 6, 1), tom=date(2025, 8, 31)), tiltakstype="AFT")
        )

    assert err.value.code == "OVERLAPPING_MEASURE"
    assert await count_events(tjeneste) == before


async def test_lop_14_transition_ends_the_source_and_grants_the_next_in_one_transaction(tjeneste):
    fra = await tjeneste.innvilg_lop(ktx(), **arbeidstrening())
    kontekst = ktx()

    ny = await tjeneste.overgang(
        fra.id,
        kontekst,
        sluttdato=date(2025, 6, 30),
        til=dict(
            tiltakstype="OPPFOLGING",
            malgruppe="NEDSATT_ARBEIDSEVNE",
            fom=date(2025, 7, 1),
            tom=date(2025, 12, 31),
            nav_enhet="0315",
            vedtak_ref="VEDTAK-2",
        ),
    )

    kilde = await tjeneste.hent_lop(fra.id)
    neste = await tjeneste.hent_lop(ny.id)
    assert ny.opprettet and ny.id != fra.id
    assert kilde.lukket and kilde.opptatt_tom == date(2025, 6, 30)
    assert neste.forgjenger_lop_id == fra.id
    assert ny.posisjon > fra.posisjon


async def test_lop_14_refused_new_grant_leaves_the_source_open_and_stores_nothing(tjeneste):
    fra = await tjeneste.innvilg_lop(ktx(), **arbeidstrening())
    before = await count_events(tjeneste)

    with pytest.raises(DomainError) as err:
        await tjeneste.overgang(
            fra.id,
            ktx(),
            sluttdato=date(2025, 6, 30),
            til=dict(
                tiltakstype="OPPFOLGING",
                malgruppe="NEDSATT_ARBEIDSEVNE",
                fom=date(2025, 7, 1),
                tom=date(2035, 12, 31),
                nav_enhet="0315",
                vedtak_ref="VEDTAK-2",
            ),
        )

    assert err.value.code == "EXCEEDS_BASE_DURATION"
    assert not (await tjeneste.hent_lop(fra.id)).lukket
    assert await count_events(tjeneste) == before


async def test_lop_12_repeated_command_id_returns_the_first_answer_and_appends_nothing(tjeneste):
    first = await tjeneste.innvilg_lop(ktx("cmd-1"), **arbeidstrening())
    before = await count_events(tjeneste)

    again = await tjeneste.innvilg_lop(ktx("cmd-1"), **arbeidstrening())

    assert again == first
    assert await count_events(tjeneste) == before


async def test_lop_12_same_command_id_with_another_body_is_refused(tjeneste):
    await tjeneste.innvilg_lop(ktx("cmd-2"), **arbeidstrening())

    with pytest.raises(DomainError) as err:
        await tjeneste.innvilg_lop(ktx("cmd-2"), **arbeidstrening(tom=date(2025, 11, 30)))

    assert err.value.code == "IDEMPOTENCY_KEY_REUSED"


async def test_lop_12_idempotency_survives_a_restart(database_url):
    async def service() -> tuple[Service, object]:
        pool = await create_pool(database_url)
        recorder = AsyncPostgresRecorder(pool)
        return Service(EventStore(recorder), STANDARD, b"test-key"), pool

    first_service, pool = await service()
    first = await first_service.innvilg_lop(ktx("cmd-3"), **arbeidstrening())
    await first_service.store.recorder.close()
    await pool.close()

    second_service, pool = await service()
    try:
        again = await second_service.innvilg_lop(ktx("cmd-3"), **arbeidstrening())
        assert again == first
        assert await count_grants(second_service) == 1
    finally:
        await second_service.store.recorder.close()
        await pool.close()


async def test_lop_12_concurrent_repeats_of_one_command_store_it_once(tjeneste):
    results = await asyncio.gather(
        *(tjeneste.innvilg_lop(ktx("cmd-4"), **arbeidstrening()) for _ in range(5))
    )

    assert len({r.id for r in results}) == 1
    assert await count_grants(tjeneste) == 1


async def test_lop_13_bad_input_gives_a_domain_error_with_its_code_and_stores_nothing(tjeneste):
    cases = [
        (dict(arbeidstrening(), tiltakstype="UKJENT_TILTAK"), "INVALID_REQUEST"),
        (dict(arbeidstrening(), person="12345678901"), "INVALID_REQUEST"),
        (arbeidstrening(fom=date(2025, 6, 1), tom=date(2025, 5, 1)), "INVALID_DATE_RANGE"),
        (dict(arbeidstrening(), vedtak_ref=None), "INVALID_REQUEST"),
    ]
    for grant, code in cases:
        with pytest.raises(DomainError) as err:
            await tjeneste.innvilg_lop(ktx(), **grant)
        assert err.value.code == code, grant
    lop = await tjeneste.innvilg_lop(ktx(), **arbeidstrening(tom=date(2025, 6, 30)))
    before = await count_events(tjeneste)

    with pytest.raises(DomainError) as err:
        await tjeneste.endre_lop(lop.id, "forleng", ktx(), ny_tom=date(2025, 9, 30), aarsak=None)

    assert err.value.code == "EXTENSION_REASON_REQUIRED"
    assert await count_events(tjeneste) == before


async def test_lop_5_extension_moves_the_persons_period_in_the_same_save(tjeneste):
    lop = await tjeneste.innvilg_lop(ktx(), **arbeidstrening(tom=date(2025, 6, 30)))
    await tjeneste.innvilg_lop(
        ktx(), **dict(arbeidstrening(fom=date(2025, 9, 1), tom=date(2025, 12, 31)), tiltakstype="AFT")
    )

    with pytest.raises(DomainError) as err:
        await tjeneste.endre_lop(lop.id, "forleng", ktx(), ny_tom=date(2025, 10, 31), aarsak="BEHOV_VIDERE")
    ok = await tjeneste.endre_lop(lop.id, "forleng", ktx(), ny_tom=date(2025, 8, 31), aarsak="BEHOV_VIDERE")

    assert err.value.code == "OVERLAPPING_MEASURE"
    assert ok.versjon == 2
    assert (await tjeneste.hent_lop(lop.id)).tom == date(2025, 8, 31)


async def test_if_match_with_a_stale_version_is_refused(tjeneste):
    lop = await tjeneste.innvilg_lop(ktx(), **arbeidstrening(tom=date(2025, 6, 30)))
    await tjeneste.endre_lop(lop.id, "avkort", ktx(), ny_tom=date(2025, 5, 31))

    with pytest.raises(PreconditionFailed):
        await tjeneste.endre_lop(lop.id, "avkort", ktx(), forventet_versjon=1, ny_tom=date(2025, 4, 30))


async def test_unknown_lop_is_not_found(tjeneste):
    with pytest.raises(NotFound):
        await tjeneste.endre_lop(uuid4(), "avkort", ktx(), ny_tom=date(2025, 4, 30))


async def test_ug_d1_racing_guarantees_for_one_person_exactly_one_succeeds(tjeneste):
    grant = dict(
        person="15080010130",
        fodselsdato=date(2000, 8, 15),
        fom=date(2024, 1, 2),
        nav_enhet="0315",
        bistandsbehov_vedtak_ref="14A-1",
    )

    results = await asyncio.gather(
        *(tjeneste.innvilg_garanti(ktx(), **grant) for _ in range(2)), return_exceptions=True
    )

    assert sum(not isinstance(r, BaseException) for r in results) == 1


async def test_ug_d1_second_guarantee_refused_until_the_first_is_ended(tjeneste):
    grant = dict(
        person="15080010130",
        fodselsdato=date(2000, 8, 15),
        fom=date(2024, 1, 2),
        nav_enhet="0315",
        bistandsbehov_vedtak_ref="14A-1",
    )
    first = await tjeneste.innvilg_garanti(ktx(), **grant)

    with pytest.raises(DomainError) as err:
        await tjeneste.innvilg_garanti(ktx(), **grant)
    await tjeneste.endre_garanti(first.id, "avslutt", ktx(), tom=date(2024, 6, 30), aarsak="BEHOV_OPPHORT")
    again = await tjeneste.innvilg_garanti(ktx(), **dict(grant, fom=date(2024, 9, 1)))

    assert err.value.code == "ALREADY_ACTIVE"
    assert again.opprettet


async def test_ug_6_activity_may_link_only_the_persons_own_lop(tjeneste):
    garanti = await tjeneste.innvilg_garanti(
        ktx(),
        person=IDENT,
        fodselsdato=date(2000, 8, 15),
        fom=date(2024, 1, 2),
        nav_enhet="0315",
        bistandsbehov_vedtak_ref="14A-1",
    )

    with pytest.raises(InvalidRequest):
        await tjeneste.endre_garanti(
            garanti.id, "koble_aktivitet", ktx(), kind="TILTAK", tiltakslop_id=uuid4(), fom=date(2024, 2, 1)
        )


def test_person_stream_id_reveals_nothing_and_depends_on_the_key():
    from domain.ident import Fodselsnummer

    a = Service.__new__(Service)
    a._person_nokkel = b"k1"
    b = Service.__new__(Service)
    b._person_nokkel = b"k2"

    pid = a.person_id(Fodselsnummer(IDENT))

    assert isinstance(pid, UUID)
    assert IDENT not in str(pid)
    assert pid != b.person_id(Fodselsnummer(IDENT))
