"""The command service on real PostgreSQL: cross-stream rules under races, atomic transitions,
idempotent commands, and refusals that store nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.commands import (
    Avkort,
    AvsluttGaranti,
    Forleng,
    InnvilgGaranti,
    InnvilgLop,
    KobleAktivitet,
    NyttLop,
    Overgang,
    Personalia,
)
from domain.common import Aktor, Kontekst
from domain.config import STANDARD
from domain.errors import DomainError, InvalidRequest, NotFound, PreconditionFailed, VersionConflict
from store.recorder import AsyncPostgresRecorder, create_pool
from store.repository import EventStore
from store.service import CommandContext, Service

IDENT = "15085012344"  # synthetic, valid mod-11
FODT = date(1990, 8, 15)


def ktx(command_id: str | None = None, **ctx: Any) -> CommandContext:
    return CommandContext(
        Kontekst(aktor=Aktor("Z990001", "0315"), correlation_id=uuid4(), command_id=command_id), **ctx
    )


def arbeidstrening(fom=date(2025, 1, 1), tom=date(2025, 12, 31), ident=IDENT, **endring: Any) -> InnvilgLop:
    verdier: dict[str, Any] = dict(
        person=Personalia(ident=ident, fodselsdato=FODT),
        tiltakstype="ARBEIDSTRENING",
        malgruppe="NEDSATT_ARBEIDSEVNE",
        fom=fom,
        tom=tom,
        nav_enhet="0315",
        vedtak_ref="VEDTAK-1",
    )
    return InnvilgLop(**(verdier | endring))


def garanti(**endring: Any) -> InnvilgGaranti:
    verdier: dict[str, Any] = dict(
        person=Personalia(ident="15080010130", fodselsdato=date(2000, 8, 15)),
        fom=date(2024, 1, 2),
        nav_enhet="0315",
        bistandsbehov_vedtak_ref="14A-1",
    )
    return InnvilgGaranti(**(verdier | endring))


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
    grants = [arbeidstrening(), arbeidstrening(tiltakstype="AFT")]

    results = await asyncio.gather(*(tjeneste.innvilg_lop(g, ktx()) for g in grants), return_exceptions=True)

    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(ok) == 1, results
    assert len(refused) == 1
    assert isinstance(refused[0], VersionConflict | DomainError)
    assert refused[0].code in ("VERSION_CONFLICT", "OVERLAPPING_MEASURE")
    assert await count_grants(tjeneste) == 1  # nothing of the loser is stored


async def test_lop_8_many_racing_grants_for_one_person_never_both_commit(tjeneste):
    results = await asyncio.gather(
        *(tjeneste.innvilg_lop(arbeidstrening(), ktx()) for _ in range(8)), return_exceptions=True
    )

    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(getattr(r, "code", None) in (None, "VERSION_CONFLICT", "OVERLAPPING_MEASURE") for r in results)
    assert await count_grants(tjeneste) == 1


async def test_lop_8_overlapping_grant_after_the_first_is_refused_and_stores_nothing(tjeneste):
    await tjeneste.innvilg_lop(arbeidstrening(), ktx())
    before = await count_events(tjeneste)

    with pytest.raises(DomainError) as err:
        await tjeneste.innvilg_lop(
            arbeidstrening(fom=date(2025, 6, 1), tom=date(2025, 8, 31), tiltakstype="AFT"), ktx()
        )

    assert err.value.code == "OVERLAPPING_MEASURE"
    assert await count_events(tjeneste) == before


async def test_lop_14_transition_ends_the_source_and_grants_the_next_in_one_transaction(tjeneste):
    fra = await tjeneste.innvilg_lop(arbeidstrening(), ktx())
    til = NyttLop(
        tiltakstype="OPPFOLGING",
        malgruppe="NEDSATT_ARBEIDSEVNE",
        fom=date(2025, 7, 1),
        tom=date(2025, 12, 31),
        nav_enhet="0315",
        vedtak_ref="VEDTAK-2",
    )

    ny = await tjeneste.overgang(fra.id, Overgang(sluttdato=date(2025, 6, 30), til=til), ktx())

    kilde = await tjeneste.get_lop(fra.id)
    neste = await tjeneste.get_lop(ny.id)
    assert ny.created and ny.id != fra.id
    assert kilde.lukket and kilde.opptatt_tom == date(2025, 6, 30)
    assert neste.forgjenger_lop_id == fra.id
    assert ny.posisjon > fra.posisjon


async def test_lop_14_refused_new_grant_leaves_the_source_open_and_stores_nothing(tjeneste):
    fra = await tjeneste.innvilg_lop(arbeidstrening(), ktx())
    before = await count_events(tjeneste)
    til = NyttLop(
        tiltakstype="OPPFOLGING",
        malgruppe="NEDSATT_ARBEIDSEVNE",
        fom=date(2025, 7, 1),
        tom=date(2035, 12, 31),
        nav_enhet="0315",
        vedtak_ref="VEDTAK-2",
    )

    with pytest.raises(DomainError) as err:
        await tjeneste.overgang(fra.id, Overgang(sluttdato=date(2025, 6, 30), til=til), ktx())

    assert err.value.code == "EXCEEDS_BASE_DURATION"
    assert not (await tjeneste.get_lop(fra.id)).lukket
    assert await count_events(tjeneste) == before


async def test_lop_12_repeated_command_id_returns_the_first_answer_and_appends_nothing(tjeneste):
    first = await tjeneste.innvilg_lop(arbeidstrening(), ktx("cmd-1"))
    before = await count_events(tjeneste)

    again = await tjeneste.innvilg_lop(arbeidstrening(), ktx("cmd-1"))

    assert again == first
    assert await count_events(tjeneste) == before


async def test_lop_12_same_command_id_with_another_body_is_refused(tjeneste):
    await tjeneste.innvilg_lop(arbeidstrening(), ktx("cmd-2"))

    with pytest.raises(DomainError) as err:
        await tjeneste.innvilg_lop(arbeidstrening(tom=date(2025, 11, 30)), ktx("cmd-2"))

    assert err.value.code == "IDEMPOTENCY_KEY_REUSED"


async def test_lop_12_idempotency_survives_a_restart(database_url):
    async def service() -> tuple[Service, object]:
        pool = await create_pool(database_url)
        recorder = AsyncPostgresRecorder(pool)
        return Service(EventStore(recorder), STANDARD, b"test-key"), pool

    first_service, pool = await service()
    first = await first_service.innvilg_lop(arbeidstrening(), ktx("cmd-3"))
    await first_service.store.recorder.close()
    await pool.close()

    second_service, pool = await service()
    try:
        again = await second_service.innvilg_lop(arbeidstrening(), ktx("cmd-3"))
        assert again == first
        assert await count_grants(second_service) == 1
    finally:
        await second_service.store.recorder.close()
        await pool.close()


async def test_lop_12_concurrent_repeats_of_one_command_store_it_once(tjeneste):
    results = await asyncio.gather(*(tjeneste.innvilg_lop(arbeidstrening(), ktx("cmd-4")) for _ in range(5)))

    assert len({r.id for r in results}) == 1
    assert await count_grants(tjeneste) == 1


async def test_lop_13_bad_input_gives_a_domain_error_with_its_code_and_stores_nothing(tjeneste):
    cases = [
        (arbeidstrening(tiltakstype="UKJENT_TILTAK"), "INVALID_REQUEST"),
        (arbeidstrening(ident="12345678901"), "INVALID_REQUEST"),
        (arbeidstrening(fom=date(2025, 6, 1), tom=date(2025, 5, 1)), "INVALID_DATE_RANGE"),
        (arbeidstrening(vedtak_ref=None), "INVALID_REQUEST"),
    ]
    for grant, code in cases:
        with pytest.raises(DomainError) as err:
            await tjeneste.innvilg_lop(grant, ktx())
        assert err.value.code == code, grant
    lop = await tjeneste.innvilg_lop(arbeidstrening(tom=date(2025, 6, 30)), ktx())
    before = await count_events(tjeneste)

    with pytest.raises(DomainError) as err:
        await tjeneste.forleng(lop.id, Forleng(ny_tom=date(2025, 9, 30)), ktx())

    assert err.value.code == "EXTENSION_REASON_REQUIRED"
    assert await count_events(tjeneste) == before


async def test_lop_5_extension_moves_the_persons_period_in_the_same_save(tjeneste):
    lop = await tjeneste.innvilg_lop(arbeidstrening(tom=date(2025, 6, 30)), ktx())
    await tjeneste.innvilg_lop(
        arbeidstrening(fom=date(2025, 9, 1), tom=date(2025, 12, 31), tiltakstype="AFT"), ktx()
    )

    with pytest.raises(DomainError) as err:
        await tjeneste.forleng(lop.id, Forleng(ny_tom=date(2025, 10, 31), aarsak="BEHOV_VIDERE"), ktx())
    ok = await tjeneste.forleng(lop.id, Forleng(ny_tom=date(2025, 8, 31), aarsak="BEHOV_VIDERE"), ktx())

    assert err.value.code == "OVERLAPPING_MEASURE"
    assert ok.versjon == 2
    assert (await tjeneste.get_lop(lop.id)).tom == date(2025, 8, 31)


async def test_if_match_with_a_stale_version_is_refused(tjeneste):
    lop = await tjeneste.innvilg_lop(arbeidstrening(tom=date(2025, 6, 30)), ktx())
    await tjeneste.avkort(lop.id, Avkort(ny_tom=date(2025, 5, 31)), ktx())

    with pytest.raises(PreconditionFailed):
        await tjeneste.avkort(lop.id, Avkort(ny_tom=date(2025, 4, 30)), ktx(expected_version=1))


async def test_unknown_lop_is_not_found(tjeneste):
    with pytest.raises(NotFound):
        await tjeneste.avkort(uuid4(), Avkort(ny_tom=date(2025, 4, 30)), ktx())


async def test_ug_d1_racing_guarantees_for_one_person_exactly_one_succeeds(tjeneste):
    results = await asyncio.gather(
        *(tjeneste.innvilg_garanti(garanti(), ktx()) for _ in range(2)), return_exceptions=True
    )

    assert sum(not isinstance(r, BaseException) for r in results) == 1


async def test_ug_d1_second_guarantee_refused_until_the_first_is_ended(tjeneste):
    first = await tjeneste.innvilg_garanti(garanti(), ktx())

    with pytest.raises(DomainError) as err:
        await tjeneste.innvilg_garanti(garanti(), ktx())
    await tjeneste.avslutt_garanti(
        first.id, AvsluttGaranti(tom=date(2024, 6, 30), aarsak="BEHOV_OPPHORT"), ktx()
    )
    again = await tjeneste.innvilg_garanti(garanti(fom=date(2024, 9, 1)), ktx())

    assert err.value.code == "ALREADY_ACTIVE"
    assert again.created


async def test_ug_6_activity_may_link_only_the_persons_own_lop(tjeneste):
    ung = await tjeneste.innvilg_garanti(
        garanti(person=Personalia(ident=IDENT, fodselsdato=date(2000, 8, 15))), ktx()
    )
    annens = await tjeneste.innvilg_lop(arbeidstrening(ident="15080010130"), ktx())

    for lop_id in (uuid4(), annens.id):
        with pytest.raises(InvalidRequest):
            cmd = KobleAktivitet(kind="TILTAK", tiltakslop_id=lop_id, fom=date(2024, 2, 1))
            await tjeneste.koble_aktivitet(ung.id, cmd, ktx())


def test_person_stream_id_reveals_nothing_and_depends_on_the_key(tjeneste):
    from domain.ident import Fodselsnummer

    a = Service(tjeneste.store, STANDARD, b"k1")
    b = Service(tjeneste.store, STANDARD, b"k2")

    pid = a.person_id(Fodselsnummer(IDENT))

    assert isinstance(pid, UUID)
    assert IDENT not in str(pid)
    assert pid != b.person_id(Fodselsnummer(IDENT))


class Refused(Exception):
    """What the caller's access check raises here (the API's raises Litestar's 403)."""


def only(*offices: str):
    def access(enhet: str) -> str:
        if enhet not in offices:
            raise Refused(enhet)
        return enhet

    return access


async def test_access_is_judged_before_the_rules_and_names_the_office_the_actor_acts_for(tjeneste):
    before = await count_events(tjeneste)

    with pytest.raises(Refused):
        await tjeneste.innvilg_lop(arbeidstrening(tiltakstype="UKJENT_TILTAK"), ktx(access=only("4601")))
    lop = await tjeneste.innvilg_lop(arbeidstrening(), ktx(access=only("0315", "4601")))
    with pytest.raises(Refused):
        await tjeneste.forleng(lop.id, Forleng(), ktx(access=only("4601")))  # not INVALID_DATE_RANGE
    historikk, _ = await tjeneste.history(lop.id, "tiltakslop")

    assert await count_events(tjeneste) == before + 3  # the grant; the person record made and told
    assert historikk.elementer[0].aktor.enhet == "0315"


async def test_an_idempotent_repeat_is_access_checked_again(tjeneste):
    lop = await tjeneste.innvilg_lop(arbeidstrening(tom=date(2025, 6, 30)), ktx())
    cmd = Forleng(ny_tom=date(2025, 8, 31), aarsak="BEHOV_VIDERE")
    first = await tjeneste.forleng(lop.id, cmd, ktx("cmd-5", access=only("0315"), per=date(2025, 3, 3)))

    repeat = await tjeneste.forleng(lop.id, cmd, ktx("cmd-5", access=only("0315"), per=date(2025, 3, 3)))
    with pytest.raises(Refused):
        await tjeneste.forleng(lop.id, cmd, ktx("cmd-5", access=only("4601"), per=date(2025, 3, 3)))

    assert repeat == first and repeat.view == first.view and repeat.view is not None


async def test_an_idempotency_key_is_bound_to_the_command_its_target_its_fields_and_its_actor(tjeneste):
    a = await tjeneste.innvilg_lop(arbeidstrening(tom=date(2025, 6, 30)), ktx())
    b = await tjeneste.innvilg_lop(arbeidstrening(tom=date(2025, 6, 30), ident="15080010130"), ktx())
    await tjeneste.avkort(a.id, Avkort(ny_tom=date(2025, 5, 31)), ktx("cmd-6"))
    other_actor = CommandContext(
        Kontekst(aktor=Aktor("Z990002", "0315"), correlation_id=uuid4(), command_id="cmd-6")
    )

    for attempt in (
        tjeneste.avkort(b.id, Avkort(ny_tom=date(2025, 5, 31)), ktx("cmd-6")),
        tjeneste.avkort(a.id, Avkort(ny_tom=date(2025, 5, 30)), ktx("cmd-6")),
        tjeneste.forleng(a.id, Forleng(ny_tom=date(2025, 5, 31)), ktx("cmd-6")),
        tjeneste.avkort(a.id, Avkort(ny_tom=date(2025, 5, 31)), other_actor),
    ):
        with pytest.raises(DomainError) as err:
            await attempt
        assert err.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert (await tjeneste.avkort(a.id, Avkort(ny_tom=date(2025, 5, 31)), ktx("cmd-6"))).versjon == 2
