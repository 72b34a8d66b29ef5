"""Schema evolution on real PostgreSQL: `TiltakslopForlenget` version 2 adds `forrige_tom` (the `tom` the
extension moved from), with `upcast_v1_v2` on the event class. A version-1 row, stored byte for byte as the
code before version 2 stored it (no `forrige_tom`, no `class_version`, chained by store.mapper), still
loads into an equal aggregate, shows in the history, verifies in the hash chain and is published upcast;
the command path writes version 2, and its NATS envelope says `skjema_versjon: 2`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from uuid import uuid4

import msgspec
import pytest
from eventsourcing.persistence import Notification, StoredEvent

from domain.commands import Forleng
from domain.common import Aktor, Kontekst
from domain.config import STANDARD
from domain.ident import Fodselsnummer
from domain.tiltakslop import Tiltakslop
from store.envelope import make_envelope, pseudonym
from store.mapper import HEAD_ATTRIBUTE, chained_state, link_of, verify_chain
from store.recorder import AsyncPostgresRecorder, SaveRequest, create_pool
from store.repository import EventStore
from store.service import CommandContext, Service
from tests.hjelp import lop_grant

IDENT = "15085012344"
PSEUDONYM_NOKKEL = b"pseudonym-key"


def ktx() -> Kontekst:
    return Kontekst(aktor=Aktor("Z990001", "0315"), correlation_id=uuid4(), command_id=None)


@pytest.fixture
async def tjeneste(database_url: str) -> AsyncIterator[Service]:
    pool = await create_pool(database_url)
    recorder = AsyncPostgresRecorder(pool)
    try:
        yield Service(EventStore(recorder, snapshot_every=None), STANDARD, b"test-key")
    finally:
        await recorder.close()
        await pool.close()


async def _innvilg(tjeneste: Service) -> Tiltakslop:
    kvittering = await tjeneste.innvilg_lop(
        lop_grant(
            person=IDENT,
            fodselsdato=date(1990, 8, 15),
            tiltakstype="ARBEIDSTRENING",
            malgruppe="NEDSATT_ARBEIDSEVNE",
            fom=date(2025, 1, 1),
            tom=date(2025, 6, 30),
            nav_enhet="0315",
            vedtak_ref="V-1",
        ),
        CommandContext(ktx()),
    )
    return await tjeneste.get_lop(kvittering.id)


def _tilstand(aggregat: Tiltakslop) -> dict[str, object]:
    return {k: v for k, v in vars(aggregat).items() if k not in (HEAD_ATTRIBUTE, "_pending_events")}


async def _notifikasjon(tjeneste: Service, lop_id, versjon: int) -> Notification:
    alle = await tjeneste.store.recorder.select_notifications(None, 1000)
    return next(n for n in alle if n.originator_id == lop_id and n.originator_version == versjon)


async def test_the_command_path_writes_version_2_and_its_envelope_says_so(tjeneste):
    lop = await _innvilg(tjeneste)

    await tjeneste.forleng(
        lop.id, Forleng(ny_tom=date(2025, 9, 30), aarsak="BEHOV_VIDERE"), CommandContext(ktx())
    )

    stored = (await tjeneste.store.recorder.select_events(lop.id))[1]
    state = json.loads(stored.state)
    assert stored.topic.endswith("Tiltakslop.TiltakslopForlenget")
    assert (state["class_version"], state["forrige_tom"]) == (2, "2025-06-30")
    envelope = make_envelope(tjeneste.store.mapper, await _notifikasjon(tjeneste, lop.id, 2), PSEUDONYM_NOKKEL)
    assert envelope is not None
    assert (envelope.type, envelope.skjema_versjon) == ("TiltakslopForlenget", 2)
    assert envelope.data["forrige_tom"] == "2025-06-30"
    first = make_envelope(tjeneste.store.mapper, await _notifikasjon(tjeneste, lop.id, 1), PSEUDONYM_NOKKEL)
    assert first is not None and first.skjema_versjon == 1
    assert first.data["person_pseudonym"] == pseudonym(PSEUDONYM_NOKKEL, Fodselsnummer(IDENT))


async def test_a_version_1_row_loads_shows_in_the_history_verifies_and_is_published_upcast(tjeneste):
    lop = await _innvilg(tjeneste)
    store = tjeneste.store
    v1_link = link_of((await store.recorder.select_events(lop.id))[0].state)
    assert v1_link is not None

    # The event as the code before version 2 stored it: the same fields without `forrige_tom`, and no
    # `class_version` (version 1 is not written), chained after version 1 by store.mapper.
    lop.forleng(Forleng(ny_tom=date(2025, 9, 30), aarsak="BEHOV_VIDERE", begrunnelse="mer tid"), ktx())
    (event,) = lop.collect_events()
    topic, body = store.mapper.encode_body(event)
    gammel = {k: v for k, v in msgspec.json.decode(body).items() if k not in ("forrige_tom", "class_version")}
    _, state = chained_state(v1_link, lop.id, 2, topic, msgspec.json.encode(gammel))
    assert b"forrige_tom" not in state and b"class_version" not in state
    await store.recorder.write(SaveRequest([StoredEvent(lop.id, 2, topic, state)], {lop.id: v1_link}, None))

    lastet = await store.get(lop.id, Tiltakslop)
    assert _tilstand(lastet) == _tilstand(lop)
    assert lastet.tom == date(2025, 9, 30) and lastet.version == 2

    historikk, _ = await tjeneste.history(lop.id, "tiltakslop")
    forlenget = historikk.elementer[1]
    assert (forlenget.type, forlenget.skjema_versjon, forlenget.begrunnelse) == ("TiltakslopForlenget", 2, "mer tid")
    assert forlenget.data == {"ny_tom": "2025-09-30", "aarsak": "BEHOV_VIDERE", "begrunnelse": "mer tid",
                              "forrige_tom": None}
    assert forlenget.lenke == link_of(state).hex()

    assert verify_chain(await store.recorder.select_events(lop.id)) == []

    envelope = make_envelope(store.mapper, await _notifikasjon(tjeneste, lop.id, 2), PSEUDONYM_NOKKEL)
    assert envelope is not None
    assert (envelope.skjema_versjon, envelope.data["forrige_tom"]) == (2, None)

    # The stream goes on from the old row: the next command writes version 2 events after it.
    await tjeneste.forleng(
        lop.id, Forleng(ny_tom=date(2025, 10, 31), aarsak="BEHOV_VIDERE"), CommandContext(ktx())
    )
    rows = await store.recorder.select_events(lop.id)
    assert json.loads(rows[2].state)["forrige_tom"] == "2025-09-30"
    assert verify_chain(rows) == []
