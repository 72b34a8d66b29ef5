"""The async event store against a real PostgreSQL: typed round trips, optimistic concurrency, atomic
multi-aggregate saves, group commit, snapshots, as-of reads, the hash chain and idempotent commands."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import asyncpg
import pytest
from eventsourcing.persistence import StoredEvent

from domain.common import Aktor, Kontekst
from domain.errors import NotFound, VersionConflict
from domain.ident import Fodselsnummer
from store.idempotency import DuplicateCommand, Kommando, hent
from store.mapper import ForlopMapper, link_of, verify_chain
from tests.integration.eksempel import (
    REGELSETT,
    Konto,
    Kontotype,
    Notat,
    close_store,
    kontekst,
    ny_konto,
    open_store,
)


@pytest.fixture
async def store(database_url: str):
    s = await open_store(database_url, snapshot_every=None)
    try:
        yield s
    finally:
        await close_store(s)


def _full_konto() -> Konto:
    konto = ny_konto()
    k = Kontekst(Aktor("Z990001", None), uuid4(), "cmd-1", None)
    konto.sett_inn(Decimal("1234.5600"), k, REGELSETT, referanse=uuid4())
    konto.merk(
        ("første", "andre"), {"dag": Decimal("0.10"), "uke": Decimal("-3")}, date(2027, 2, 28), k, REGELSETT
    )
    konto.merk((), {}, None, kontekst(), REGELSETT)
    konto.sperr("mistanke", kontekst(), REGELSETT)
    konto.lukk(datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC), kontekst(), REGELSETT)
    return konto


# Check: every field type survives store → load exactly, with its own type.
async def test_round_trip_of_every_field_type(store) -> None:
    konto = _full_konto()
    pending = list(konto.pending_events)
    await store.save(konto)

    stored = await store.recorder.select_events(konto.id)
    decoded = [store.mapper.to_domain_event(se) for se in stored]
    assert decoded == pending
    for original, event in zip(pending, decoded, strict=True):
        assert type(event.originator_id) is UUID
        for name, value in vars(original).items():
            assert type(getattr(event, name)) is type(value), name
        assert event.lenke == link_of(stored[event.originator_version - 1].state).hex()

    loaded = await store.get(konto.id, Konto)
    assert loaded.version == konto.version
    assert {k: v for k, v in vars(loaded).items() if k != "_forlop_lenke"} == {
        k: v for k, v in vars(konto).items() if k != "_forlop_lenke"
    }
    assert type(loaded.eier) is Fodselsnummer and loaded.eier.verdi == konto.eier.verdi
    assert loaded.kontotype is Kontotype.BRUK
    assert loaded.merknader == ("første", "andre") and isinstance(loaded.merknader, tuple)
    assert loaded.grenser == {"dag": Decimal("0.10"), "uke": Decimal("-3")}
    assert str(loaded.saldo) == "1234.5600"


async def test_snapshot_state_round_trips_typed() -> None:
    mapper = ForlopMapper()
    konto = _full_konto()
    konto.collect_events()
    snapshot = Konto.Snapshot.take(konto)
    restored = mapper.to_domain_event(mapper.to_stored_event(snapshot)).mutate(None)
    assert restored == konto
    assert type(restored.eier) is Fodselsnummer and type(restored.lukket) is datetime
    assert type(restored.referanser[0]) is UUID and type(restored.merknader) is tuple


async def test_a_snapshot_of_unannotated_state_is_refused() -> None:
    konto = ny_konto()
    konto.collect_events()
    konto.uannotert = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="uannotert"):
        ForlopMapper().to_stored_event(Konto.Snapshot.take(konto))


async def test_upcasting_of_an_old_event_version() -> None:
    mapper = ForlopMapper()
    v1_state = b'{"timestamp":"2026-01-05T10:00:00Z","kontekst":{"aktor":{"nav_ident":"Z1"},"correlation_id":"%s"},"regelsett_id":"R"}'
    event = mapper.to_domain_event(
        StoredEvent(uuid4(), 2, "tests.integration.eksempel:Konto.Sperret", v1_state % str(uuid4()).encode())
    )
    assert event.aarsak == "UKJENT"
    assert event.kontekst.aktor == Aktor("Z1")


async def test_upcasting_of_an_old_snapshot_version() -> None:
    mapper = ForlopMapper()
    id = uuid4()
    v1 = (
        b'{"timestamp":"2026-01-05T10:00:00Z","topic":"tests.integration.eksempel:Notat","state":'
        b'{"_created_on":"2026-01-05T09:00:00Z","_modified_on":"2026-01-05T09:30:00Z",'
        b'"tekst":"hei","frist":"2026-02-01"}}'
    )
    notat = mapper.to_domain_event(StoredEvent(id, 4, "eventsourcing.domain:Snapshot", v1)).mutate(None)
    assert isinstance(notat, Notat) and notat.id == id and notat.version == 4
    assert notat.prioritet == 3 and notat.frist == date(2026, 2, 1) and type(notat.modified_on) is datetime

    again = mapper.to_domain_event(mapper.to_stored_event(Notat.Snapshot.take(notat))).mutate(None)
    assert again == notat


async def test_missing_aggregate_is_not_found(store) -> None:
    with pytest.raises(NotFound):
        await store.get(uuid4())


# Check: two loads of v1 both save v2; exactly one wins, the other gets VersionConflict.
async def test_version_conflict_never_loses_an_update(store) -> None:
    konto = ny_konto()
    await store.save(konto)
    a = await store.get(konto.id)
    b = await store.get(konto.id)
    a.sett_inn(Decimal("1"), kontekst(), REGELSETT)
    b.sett_inn(Decimal("2"), kontekst(), REGELSETT)
    results = await asyncio.gather(store.save(a), store.save(b), return_exceptions=True)
    assert sum(isinstance(r, VersionConflict) for r in results) == 1
    loaded = await store.get(konto.id)
    assert loaded.version == 2 and loaded.saldo in (Decimal("1"), Decimal("2"))

    # The loser's state cannot be saved later either: it does not follow what is stored.
    loser = b if isinstance(results[1], VersionConflict) else a
    loser.sett_inn(Decimal("5"), kontekst(), REGELSETT)
    with pytest.raises(VersionConflict):
        await store.save(loser)
    assert (await store.get(konto.id)).version == 2


async def test_a_second_creation_of_the_same_id_conflicts(store) -> None:
    id = uuid4()
    await store.save(ny_konto(id))
    with pytest.raises(VersionConflict):
        await store.save(ny_konto(id))


# Check: a save of several aggregates with one conflicting stores none of its events.
async def test_multi_aggregate_save_is_atomic(store) -> None:
    a, b = ny_konto(), ny_konto()
    await store.save(a, b)
    a = await store.get(a.id)
    b_stale = await store.get(b.id)
    b_other = await store.get(b.id)
    b_other.sett_inn(Decimal("9"), kontekst(), REGELSETT)
    await store.save(b_other)

    a.sett_inn(Decimal("1"), kontekst(), REGELSETT)
    b_stale.sett_inn(Decimal("1"), kontekst(), REGELSETT)
    new = ny_konto()
    with pytest.raises(VersionConflict):
        await store.save(a, new, b_stale)
    assert len(await store.recorder.select_events(a.id)) == 1
    assert await store.recorder.select_events(new.id) == []
    assert len(await store.recorder.select_events(b.id)) == 2

    ids = await store.save(ny_konto(), ny_konto())
    assert len(ids) == 2 and ids[0] < ids[1]


# Check: 32 concurrent saves share transactions; only the conflicting ones fail.
async def test_group_commit_fails_only_conflicting_saves(store) -> None:
    kontoer = [ny_konto() for _ in range(24)]
    await store.save(*kontoer)
    pairs = kontoer[:8]
    singles = kontoer[8:]
    loads = [await store.get(k.id) for k in pairs for _ in range(2)] + [
        await store.get(k.id) for k in singles
    ]
    for i, konto in enumerate(loads):
        konto.sett_inn(Decimal(i + 1), kontekst(), REGELSETT)
    batches_before = store.recorder.batches

    results = await asyncio.gather(*(store.save(k) for k in loads), return_exceptions=True)

    assert len(results) == 32
    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert all(isinstance(results[i], VersionConflict) for i in failed)
    assert len(failed) == 8
    for p in range(8):  # one of each pair wins; all singles win
        assert isinstance(results[2 * p], VersionConflict) != isinstance(results[2 * p + 1], VersionConflict)
    assert all(isinstance(r, list) for r in results[16:])
    assert store.recorder.batches - batches_before < 32  # batched
    for k in kontoer:
        assert (await store.get(k.id)).version == 2


async def test_a_conflicting_save_and_others_in_one_insert(store) -> None:
    """The recorder's batch directly: a conflict in one request, the others committed."""
    a, b = ny_konto(), ny_konto()
    await store.save(a, b)
    mapper = store.mapper
    fresh = ny_konto()
    dup = ny_konto(a.id)  # version 1 again for a stored aggregate
    from store.mapper import ZERO_LINK
    from store.recorder import SaveRequest

    def request(konto: Konto) -> SaveRequest:
        return SaveRequest([mapper.to_stored_event(e, ZERO_LINK) for e in konto.collect_events()], {})

    results = await store.recorder.insert([request(fresh), request(dup)])
    assert isinstance(results[0], list) and len(results[0]) == 1
    assert isinstance(results[1], VersionConflict)


# Check: snapshots reduce rows read and give the same state, also at earlier versions.
async def test_snapshots_are_used_and_state_is_equal(database_url: str) -> None:
    with_snapshots = await open_store(database_url, snapshot_every=10)
    without = await open_store(database_url, snapshot_every=None)
    try:
        konto = ny_konto()
        await with_snapshots.save(konto)
        for i in range(24):
            konto.sett_inn(Decimal(i + 1), kontekst(), REGELSETT)
            await with_snapshots.save(konto)
        assert [s.originator_version for s in await with_snapshots.recorder.select_snapshots(konto.id)] == [
            10,
            20,
        ]

        a = await with_snapshots.get(konto.id)
        b = await without.get(konto.id)
        assert a == b and a.version == 25 and a.saldo == Decimal(300)
        assert with_snapshots.rows_read == 1 + 6  # snapshot 20, events 20..25
        assert without.rows_read == 25

        for version in (3, 10, 15, 20, 21):
            assert await with_snapshots.get(konto.id, version=version) == await without.get(
                konto.id, version=version
            )

        # A loaded-from-snapshot aggregate saves on: its chain head came with it.
        a.sett_inn(Decimal(1), kontekst(), REGELSETT)
        await with_snapshots.save(a)
        assert verify_chain(await with_snapshots.recorder.select_events(konto.id)) == []
    finally:
        await close_store(with_snapshots)
        await close_store(without)


async def test_read_at_a_version(store) -> None:
    konto = ny_konto()
    for belop in ("10", "20", "30"):
        konto.sett_inn(Decimal(belop), kontekst(), REGELSETT)
    await store.save(konto)
    v2 = await store.get(konto.id, version=2)
    assert v2.version == 2 and v2.saldo == Decimal("10")
    # An old version can't be saved on: it does not follow the stored head.
    v2.sett_inn(Decimal("1"), kontekst(), REGELSETT)
    with pytest.raises(VersionConflict):
        await store.save(v2)


async def test_read_at_an_instant(store) -> None:
    konto = ny_konto()
    await store.save(konto)
    await asyncio.sleep(0.01)
    konto.sett_inn(Decimal("10"), kontekst(), REGELSETT)
    await store.save(konto)
    instant = konto.modified_on
    await asyncio.sleep(0.01)
    konto.sett_inn(Decimal("5"), kontekst(), REGELSETT)
    await store.save(konto)

    known = await store.get_at_instant(konto.id, instant)
    assert known.version == 2 and known.saldo == Decimal("10")
    with pytest.raises(NotFound):
        await store.get_at_instant(konto.id, datetime(2000, 1, 1, tzinfo=UTC))


# Check: the chain verifies; altering one stored row is named by its version.
async def test_hash_chain_names_an_altered_row(store) -> None:
    konto = ny_konto()
    await store.save(konto)
    for belop in ("1", "2", "3", "4"):
        konto.sett_inn(Decimal(belop), kontekst(), REGELSETT)
        await store.save(konto)
    stored = await store.recorder.select_events(konto.id)
    assert verify_chain(stored) == []
    assert len({link_of(se.state) for se in stored}) == 5

    await store.recorder.pool.execute(
        "UPDATE forlop_events SET state = convert_to(replace(convert_from(state, 'UTF8'), "
        '\'"belop":"2"\', \'"belop":"200"\'), \'UTF8\') WHERE originator_id = $1 AND originator_version = 3',
        konto.id,
    )
    tampered = await store.recorder.select_events(konto.id)
    assert tampered[2].state != stored[2].state
    assert verify_chain(tampered) == [3]
    # Also a row deleted from the middle is named (the row after the gap).
    assert verify_chain([se for se in stored if se.originator_version != 2]) == [3]


# Check: a repeated command id fails only that save and returns the stored record; survives a new pool.
async def test_idempotent_command_survives_restart(database_url: str) -> None:
    store = await open_store(database_url)
    first = ny_konto()
    await store.save(first, idempotency=Kommando("cmd-42", "fp-1", b'{"id":"1"}'))
    other = ny_konto()
    with pytest.raises(DuplicateCommand) as info:
        await store.save(other, idempotency=Kommando("cmd-42", "fp-2", b"{}"))
    assert info.value.stored.fingerprint == "fp-1" and info.value.stored.svar == b'{"id":"1"}'
    assert await store.recorder.select_events(other.id) == []

    # Concurrent repeats in one batch: exactly one is recorded.
    racers = [ny_konto() for _ in range(5)]
    results = await asyncio.gather(
        *(store.save(k, idempotency=Kommando("cmd-43", f"fp-{i}", b"1")) for i, k in enumerate(racers)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, list) for r in results) == 1
    assert sum(isinstance(r, DuplicateCommand) for r in results) == 4

    # Repeats that would also conflict (same aggregate created again) are still repeats.
    same_id = uuid4()
    results = await asyncio.gather(
        *(store.save(ny_konto(same_id), idempotency=Kommando("cmd-44", "fp", b"1")) for _ in range(5)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, list) for r in results) == 1
    assert sum(isinstance(r, DuplicateCommand) for r in results) == 4
    await close_store(store)

    restarted = await open_store(database_url)
    try:
        record = await hent(restarted.recorder.pool, "cmd-42")
        assert record is not None and record.fingerprint == "fp-1" and record.svar == b'{"id":"1"}'
        assert await hent(restarted.recorder.pool, "nope") is None
        with pytest.raises(DuplicateCommand):
            await restarted.save(ny_konto(), idempotency=Kommando("cmd-42", "fp-1", b""))
    finally:
        await close_store(restarted)


# Check: a lock timeout fails the save, the connection is rolled back, and the next save works.
async def test_lock_timeout_rolls_back(database_url: str) -> None:
    store = await open_store(database_url, lock_timeout=0.2)
    blocker = await asyncpg.connect(database_url)
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE forlop_events IN EXCLUSIVE MODE")
        konto = ny_konto()
        with pytest.raises(asyncpg.LockNotAvailableError):
            await store.save(konto)
        await tx.rollback()
        await store.save(ny_konto())
        assert await store.recorder.max_notification_id() is not None
    finally:
        await blocker.close()
        await close_store(store)
