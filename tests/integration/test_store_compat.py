"""Acceptance: eventsourcing's own PostgresApplicationRecorder (psycopg) and this store share one table.

It reads what the store wrote, and the store reads (and saves on top of) what it wrote; through the same
ForlopMapper both yield equal domain events. psycopg is used here only, as eventsourcing's driver.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

from store.mapper import ZERO_LINK, link_of, verify_chain
from tests.integration.eksempel import REGELSETT, close_store, kontekst, ny_konto, open_store


def _datastore(database_url: str) -> PostgresDatastore:
    parts = urlsplit(database_url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "localhost"])[0]
    return PostgresDatastore(
        dbname=parts.path.lstrip("/"),
        host=host,
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or "",
    )


@pytest.fixture
async def both(database_url: str):
    store = await open_store(database_url, snapshot_every=None)
    datastore = _datastore(database_url)
    es_recorder = PostgresApplicationRecorder(datastore, events_table_name="forlop_events")
    es_recorder.create_table()  # our DDL is its DDL: this is a no-op that must not fail
    try:
        yield store, es_recorder
    finally:
        datastore.close()
        await close_store(store)


async def test_eventsourcing_reads_what_the_store_wrote(both) -> None:
    store, es_recorder = both
    konto = ny_konto()
    konto.sett_inn(Decimal("12.30"), kontekst(), REGELSETT)
    konto.sperr("test", kontekst(), REGELSETT)
    originals = list(konto.pending_events)
    other = ny_konto()
    ids = await store.save(konto, other)

    es_stored = es_recorder.select_events(konto.id)
    ours = await store.recorder.select_events(konto.id)
    assert [(s.originator_id, s.originator_version, s.topic, s.state) for s in es_stored] == [
        (s.originator_id, s.originator_version, s.topic, s.state) for s in ours
    ]
    assert [store.mapper.to_domain_event(s) for s in es_stored] == originals

    notifications = es_recorder.select_notifications(start=1, limit=10)
    assert [n.id for n in notifications] == ids
    assert es_recorder.max_notification_id() == ids[-1]


async def test_the_store_reads_what_eventsourcing_wrote(both) -> None:
    store, es_recorder = both
    mapper = store.mapper
    konto = ny_konto()
    konto.sett_inn(Decimal("7"), kontekst(), REGELSETT)
    konto.merk(("x",), {"g": Decimal("1.5")}, None, kontekst(), REGELSETT)
    originals = list(konto.collect_events())
    stored, link = [], ZERO_LINK
    for event in originals:  # mapped through ForlopMapper, chained as the store would
        se = mapper.to_stored_event(event, link)
        link = link_of(se.state)
        stored.append(se)
    notification_ids = es_recorder.insert_events(stored)
    assert notification_ids is not None and len(notification_ids) == 3

    ours = await store.recorder.select_events(konto.id)
    assert [mapper.to_domain_event(s) for s in ours] == originals
    assert verify_chain(ours) == []
    assert [n.id for n in await store.recorder.select_notifications(1, 10)] == list(notification_ids)

    # And the store carries on from eventsourcing's rows with an intact chain.
    loaded = await store.get(konto.id)
    assert loaded.saldo == Decimal("7") and loaded.merknader == ("x",)
    loaded.ta_ut(Decimal("2"), kontekst(), REGELSETT)
    await store.save(loaded)
    assert verify_chain(await store.recorder.select_events(konto.id)) == []
    assert [e.originator_version for e in es_recorder.select_events(konto.id)] == [1, 2, 3, 4]
