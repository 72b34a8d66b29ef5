"""`KontaktpersonByttet` version 2 on real PostgreSQL (contract.md §3): the event carries the command body's
`nav_ident` and `fom` and adds `forrige_nav_ident`; its NATS envelope says `skjema_versjon: 2`. A version-1
row, stored byte for byte as the code before stored it (`fra_nav_ident`/`til_nav_ident`, no
`class_version`), loads into an equal aggregate, shows upcast in the history, verifies in the hash chain and
is published with the version-2 names."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from uuid import UUID

import msgspec
import pytest
from eventsourcing.persistence import Notification, StoredEvent

from domain.commands import TildelKontaktperson
from domain.config import STANDARD
from domain.ungdomsgaranti import Ungdomsgaranti
from store.envelope import make_envelope
from store.mapper import HEAD_ATTRIBUTE, chained_state, link_of, verify_chain
from store.recorder import AsyncPostgresRecorder, SaveRequest, create_pool
from store.repository import EventStore
from store.service import CommandContext, Service
from tests.hjelp import garanti_grant, ktx

PSEUDONYM_NOKKEL = b"pseudonym-key"


@pytest.fixture
async def tjeneste(database_url: str) -> AsyncIterator[Service]:
    pool = await create_pool(database_url)
    recorder = AsyncPostgresRecorder(pool)
    try:
        yield Service(EventStore(recorder, snapshot_every=None), STANDARD, b"test-key")
    finally:
        await recorder.close()
        await pool.close()


async def _garanti_med_kontaktperson(tjeneste: Service) -> UUID:
    kvittering = await tjeneste.innvilg_garanti(
        garanti_grant(
            person="20054352183", fodselsdato=date(2003, 5, 20), fom=date(2025, 1, 6), nav_enhet="0315",
            bistandsbehov_vedtak_ref="14A-1",
        ),
        CommandContext(ktx()),
    )
    await tjeneste.tildel_kontaktperson(
        kvittering.id, TildelKontaktperson(nav_ident="Z990001", fom=date(2025, 1, 6)), CommandContext(ktx())
    )
    return kvittering.id


async def _notifikasjon(tjeneste: Service, agg_id: UUID, versjon: int) -> Notification:
    alle = await tjeneste.store.recorder.select_notifications(None, 1000)
    return next(n for n in alle if n.originator_id == agg_id and n.originator_version == versjon)


def _tilstand(aggregat: Ungdomsgaranti) -> dict[str, object]:
    return {k: v for k, v in vars(aggregat).items() if k not in (HEAD_ATTRIBUTE, "_pending_events")}


async def test_a_switch_is_published_with_the_bodys_nav_ident_and_fom_as_version_2(tjeneste: Service) -> None:
    garanti_id = await _garanti_med_kontaktperson(tjeneste)

    await tjeneste.tildel_kontaktperson(
        garanti_id, TildelKontaktperson(nav_ident="Z990002", fom=date(2025, 3, 1), begrunnelse="sluttet"),
        CommandContext(ktx()),
    )

    stored = (await tjeneste.store.recorder.select_events(garanti_id))[2]
    assert stored.topic.endswith("Ungdomsgaranti.KontaktpersonByttet")
    assert json.loads(stored.state)["class_version"] == 2
    envelope = make_envelope(tjeneste.store.mapper, await _notifikasjon(tjeneste, garanti_id, 3), PSEUDONYM_NOKKEL)
    assert envelope is not None
    assert (envelope.type, envelope.skjema_versjon) == ("KontaktpersonByttet", 2)
    assert envelope.data == {
        "nav_ident": "Z990002", "fom": "2025-03-01", "forrige_nav_ident": "Z990001", "begrunnelse": "sluttet",
    }


async def test_a_version_1_row_loads_shows_in_the_history_verifies_and_is_published_upcast(tjeneste: Service) -> None:
    garanti_id = await _garanti_med_kontaktperson(tjeneste)
    store = tjeneste.store
    garanti = await tjeneste.get_garanti(garanti_id)
    v2_link = link_of((await store.recorder.select_events(garanti_id))[1].state)
    assert v2_link is not None

    # The switch as the code before version 2 stored it: `fra_nav_ident`/`til_nav_ident`, no class_version.
    garanti.tildel_kontaktperson(TildelKontaktperson(nav_ident="Z990002", fom=date(2025, 3, 1)), ktx())
    (event,) = garanti.collect_events()
    topic, body = store.mapper.encode_body(event)
    ny = msgspec.json.decode(body)
    gammel = {k: v for k, v in ny.items() if k not in ("nav_ident", "forrige_nav_ident", "class_version")}
    gammel |= {"fra_nav_ident": "Z990001", "til_nav_ident": "Z990002"}
    _, state = chained_state(v2_link, garanti_id, 3, topic, msgspec.json.encode(gammel))
    assert b"til_nav_ident" in state and b"class_version" not in state
    await store.recorder.write(SaveRequest([StoredEvent(garanti_id, 3, topic, state)], {garanti_id: v2_link}, None))

    lastet = await store.get(garanti_id, Ungdomsgaranti)
    assert _tilstand(lastet) == _tilstand(garanti)
    assert [k.nav_ident for k in lastet.kontaktpersoner] == ["Z990001", "Z990002"]

    historikk, _ = await tjeneste.history(garanti_id, "ungdomsgaranti")
    byttet = historikk.elementer[2]
    assert (byttet.type, byttet.skjema_versjon) == ("KontaktpersonByttet", 2)
    assert byttet.data == {"nav_ident": "Z990002", "fom": "2025-03-01", "forrige_nav_ident": "Z990001",
                           "begrunnelse": None}
    assert verify_chain(await store.recorder.select_events(garanti_id)) == []

    envelope = make_envelope(store.mapper, await _notifikasjon(tjeneste, garanti_id, 3), PSEUDONYM_NOKKEL)
    assert envelope is not None
    assert (envelope.skjema_versjon, envelope.data["nav_ident"], envelope.data["forrige_nav_ident"]) == (
        2, "Z990002", "Z990001",
    )
