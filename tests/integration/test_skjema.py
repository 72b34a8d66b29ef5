"""The generated message schemas (workers/schemas.py, docs/schemas/, docs/asyncapi.json) against real messages:
every published event type of both aggregates, produced through the command service, relayed by the real
relay to a real nats-server, and alerts sent by the alert worker, each validated against its committed JSON
Schema; and the committed files equal freshly generated ones, so they cannot drift from the code."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import jsonschema
import msgspec
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from domain.common import Aktor, Kontekst
from domain.config import STANDARD
from domain.ident import Fodselsnummer
from projections.oversikt import Oversikt
from projections.runner import Runner, opprett
from store import envelope
from store.mapper import ForlopMapper
from store.recorder import AsyncPostgresRecorder, create_pool
from store.repository import EventStore
from store.service import Service
from tests.integration.nats_hjelp import ledig_port
from tests.integration.test_projeksjoner import IDENTER
from workers import schemas
from workers.embedded_nats import start_nats
from workers.nats_setup import HENDELSER, VARSLER
from workers.relay import Relay
from workers.varsler import VARSELTYPER, run_once
from workers.varsler import opprett as opprett_varsler

PERSON_KEY = b"skjema-person-key"
PSEUDONYM_KEY = b"skjema-pseudonym-key"
DOCS = Path(__file__).resolve().parents[2] / "docs"
ORGNR = "974760673"


def ktx() -> Kontekst:
    return Kontekst(aktor=Aktor("Z990001", "0315"), correlation_id=uuid4())


def oversikt() -> Oversikt:
    return Oversikt(ForlopMapper(), STANDARD, PERSON_KEY)


def validator(fil: str) -> jsonschema.Draft202012Validator:
    """The committed schema file (docs/...), checked as a schema, with format checks (uuid, date, ...)."""
    schema = json.loads((DOCS / fil).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture
async def tjeneste(database_url: str) -> AsyncIterator[Service]:
    pool = await create_pool(database_url)
    recorder = AsyncPostgresRecorder(pool)
    await opprett(pool, oversikt())
    await opprett_varsler(pool)
    try:
        yield Service(EventStore(recorder), STANDARD, PERSON_KEY)
    finally:
        await recorder.close()
        await pool.close()


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    url, proc = start_nats(tmp_path / "nats", ledig_port())
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def les(url: str, stream: str) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """Every message of a stream as (subject, payload, headers), by an ephemeral pull consumer."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        total = (await js.stream_info(stream)).state.messages
        sub = await js.pull_subscribe(
            ">",
            stream=stream,
            config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL),
        )
        ut: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        while len(ut) < total:
            for msg in await sub.fetch(min(500, total - len(ut)), timeout=5):
                ut.append((msg.subject, msgspec.json.decode(msg.data), dict(msg.headers or {})))
        await sub.unsubscribe()
        return ut
    finally:
        await nc.close()


def lop_grant(nr: int, tiltakstype: str = "ARBEIDSTRENING", **extra: Any) -> dict[str, Any]:
    grant: dict[str, Any] = dict(
        person=IDENTER[nr],
        fodselsdato=date(1990, 8, 15),
        tiltakstype=tiltakstype,
        malgruppe="NEDSATT_ARBEIDSEVNE",
        fom=date(2025, 1, 1),
        tom=date(2025, 12, 31),
        nav_enhet="0315",
        vedtak_ref="V-1",
    )
    grant.update(extra)
    return grant


async def every_event_type(t: Service) -> None:
    """At least one event of every published type of both aggregates, through the command service."""
    # Tiltaksløp: grant, extension, shortening, correction, target group, then a transition (end + grant).
    lop = (await t.innvilg_lop(ktx(), **lop_grant(0))).id
    await t.endre_lop(lop, "forleng", ktx(), ny_tom=date(2026, 3, 31), aarsak="NEDSATT_ARBEIDSEVNE")
    await t.endre_lop(lop, "avkort", ktx(), ny_tom=date(2026, 2, 28))
    await t.endre_lop(lop, "korriger", ktx(), vedtak_ref="V-2", begrunnelse="ny referanse")
    await t.endre_lop(
        lop, "endre_malgruppe", ktx(), ny_malgruppe="ARBEIDSSOKER", fom=date(2025, 3, 1), vedtak_ref="AEV-3"
    )
    await t.overgang(
        lop,
        ktx(),
        sluttdato=date(2025, 6, 30),
        til=dict(
            tiltakstype="OPPFOLGING",
            malgruppe="NEDSATT_ARBEIDSEVNE",
            fom=date(2025, 7, 1),
            tom=date(2025, 12, 31),
            nav_enhet="0315",
            vedtak_ref="V-3",
        ),
    )
    annullert = (await t.innvilg_lop(ktx(), **lop_grant(1))).id
    await t.endre_lop(annullert, "annuller", ktx(), begrunnelse="innvilget ved en feil")
    avsluttet = (await t.innvilg_lop(ktx(), **lop_grant(2))).id
    await t.endre_lop(avsluttet, "avslutt", ktx(), sluttdato=date(2025, 11, 30), aarsak="FULLFORT")
    aft = (await t.innvilg_lop(ktx(), **lop_grant(3, "AFT"))).id
    await t.endre_lop(
        aft,
        "registrer_vurdering",
        ktx(),
        dato=date(2025, 3, 31),
        type="AFT_STATUS_PROGRESJON",
        utfall="FORTSETTER",
    )
    lts = (
        await t.innvilg_lop(ktx(), **lop_grant(4, "MIDLERTIDIG_LONNSTILSKUDD", malgruppe="ARBEIDSSOKER"))
    ).id
    await t.endre_lop(lts, "fastsett_sats", ktx(), prosent=35, fom=date(2025, 3, 1))
    vta = (await t.innvilg_lop(ktx(), **lop_grant(5, "VTA", tom=None))).id
    await t.endre_lop(
        vta,
        "innvilg_permisjon",
        ktx(),
        fom=date(2025, 3, 1),
        tom=date(2025, 8, 28),
        type="HOSPITERING",
        vertsbedrift="Bedrift AS",
    )

    # Ungdomsgaranti: every command, then the end and a correction.
    egen_lop = (await t.innvilg_lop(ktx(), **lop_grant(6, fodselsdato=date(2000, 8, 15)))).id
    garanti = (
        await t.innvilg_garanti(
            ktx(),
            person=IDENTER[6],
            fodselsdato=date(2000, 8, 15),
            fom=date(2025, 1, 2),
            nav_enhet="0315",
            bistandsbehov_vedtak_ref="14A-1",
        )
    ).id
    g = t.endre_garanti
    await g(garanti, "tildel_kontaktperson", ktx(), nav_ident="Z990001", fom=date(2025, 1, 2))
    await g(
        garanti,
        "tildel_kontaktperson",
        ktx(),
        nav_ident="Z990002",
        fom=date(2025, 2, 1),
        begrunnelse="permisjon",
    )
    await g(garanti, "planlegg_samtale", ktx(), dato=date(2025, 2, 5), kanal="MOTE")
    await g(garanti, "registrer_samtale", ktx(), dato=date(2025, 2, 5), kanal="VIDEO")
    await g(garanti, "registrer_utdanningsvurdering", ktx(), dato=date(2025, 2, 6), utfall="fagbrev anbefalt")
    await g(garanti, "koble_aktivitet", ktx(), kind="TILTAK", fom=date(2025, 3, 1), tiltakslop_id=egen_lop)
    await g(garanti, "registrer_samhandling", ktx(), instans="HELSE", dato=date(2025, 3, 2))
    await g(garanti, "tilby_arbeidsgiveroppfolging", ktx(), arbeidsgiver_orgnr=ORGNR, dato=date(2025, 3, 3))
    await g(garanti, "avslutt", ktx(), tom=date(2025, 6, 30), aarsak="BEHOV_OPPHORT")
    await g(garanti, "korriger", ktx(), begrunnelse="feil enhet", nav_enhet="4601")

    # An open guarantee with a contact person: its alerts carry `kontaktperson`.
    apen = (
        await t.innvilg_garanti(
            ktx(),
            person=IDENTER[7],
            fodselsdato=date(2000, 8, 15),
            fom=date(2025, 1, 2),
            nav_enhet="0315",
            bistandsbehov_vedtak_ref="14A-2",
        )
    ).id
    await g(apen, "tildel_kontaktperson", ktx(), nav_ident="Z990003", fom=date(2025, 1, 2))


async def relay_all(database_url: str, url: str, pool: asyncpg.Pool) -> None:
    """Run the real relay until its position reaches the end of the log."""
    slutt = await pool.fetchval("SELECT max(notification_id) FROM forlop_events")
    stopp = asyncio.Event()
    relay = Relay(database_url, url, PSEUDONYM_KEY, poll_seconds=0.1)
    task = asyncio.create_task(relay.run(stopp))
    try:
        for _ in range(600):
            if relay.status.posisjon >= slutt:
                break
            await asyncio.sleep(0.05)
        assert relay.status.posisjon >= slutt, "the relay did not reach the end of the log"
    finally:
        stopp.set()
        await task


async def views_caught_up(database_url: str) -> None:
    runner = Runner(database_url, oversikt())
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        while await runner.run_batch(pool):
            pass
    finally:
        await pool.close()


def test_the_committed_schemas_and_asyncapi_equal_freshly_generated_ones() -> None:
    stale = schemas.avvik(DOCS)

    assert stale == [], f"run `make docs`: {stale}"


def test_every_published_event_class_has_a_schema_and_a_channel() -> None:
    api = json.loads((DOCS / schemas.ASYNCAPI_FIL).read_text(encoding="utf-8"))
    types = {(a, k.__name__) for a, k in schemas.hendelsesklasser()}

    assert len(types) == 21  # 10 løp events, 11 guarantee events (contract.md §3; the domain's names)
    for aggregat, navn in types:
        subject = f"forlop.hendelse.{aggregat}.{navn}"
        assert subject in api["channels"]
        assert (DOCS / "schemas" / f"{subject}.json").is_file()
    assert "forlop.hendelse.person.PersonGlemt" in api["channels"]
    assert "forlop.varsel.{type}" in api["channels"]


async def test_every_real_message_of_both_streams_validates_against_its_generated_schema(
    tjeneste: Service, database_url: str, nats_url: str
) -> None:
    await every_event_type(tjeneste)
    pool = tjeneste.store.recorder.pool
    await relay_all(database_url, nats_url, pool)
    await views_caught_up(database_url)
    besluttet, sendt, usendt = await run_once(database_url, nats_url, oversikt(), date(2025, 12, 1))
    hendelser = await les(nats_url, HENDELSER)
    varsler = await les(nats_url, VARSLER)
    published = await pool.fetchval(
        "SELECT count(*) FROM forlop_events WHERE topic NOT LIKE 'domain.person:%'"
    )
    meldinger = {m.subject: m for m in schemas.meldinger()}
    validators = {subject: validator(m.fil) for subject, m in meldinger.items()}

    # Check every event: its subject names its aggregate and type, it validates, and data has no extra field.
    assert len(hendelser) == published
    seen = set()
    for subject, payload, headers in hendelser:
        assert subject == f"forlop.hendelse.{payload['aggregat']}.{payload['type']}"
        assert subject in validators, f"no schema for {subject}"
        errors = [e.message for e in validators[subject].iter_errors(payload)]
        assert errors == [], (subject, errors)
        data_struct = next(
            f.type for f in msgspec.structs.fields(meldinger[subject].payload) if f.name == "data"
        )
        felter = {f.name for f in msgspec.structs.fields(data_struct)}
        assert set(payload["data"]) == felter, subject
        assert headers["Nats-Msg-Id"] == payload["id"]
        seen.add((payload["aggregat"], payload["type"]))
    assert seen == {(a, k.__name__) for a, k in schemas.hendelsesklasser()}

    # Check the alerts: at least one, each on its type's subject, valid, with the Msg-Id of its varsel_id.
    assert besluttet >= 1 and sendt == len(varsler) >= 1 and usendt == 0
    assert any("kontaktperson" in p for _, p, _ in varsler)
    varsel = validators["forlop.varsel.{type}"]
    for subject, payload, headers in varsler:
        assert payload["type"] in VARSELTYPER
        assert subject == f"forlop.varsel.{payload['type']}"
        errors = [e.message for e in varsel.iter_errors(payload)]
        assert errors == [], (subject, errors)
        assert headers["Nats-Msg-Id"] == payload["varsel_id"]

    # Check that validation is not vacuous: a wrong code, a missing field and an identifier are refused.
    _, first, _ = next(m for m in hendelser if m[1]["type"] == "TiltakslopInnvilget")
    innvilget = validators["forlop.hendelse.tiltakslop.TiltakslopInnvilget"]
    for endret in (
        {**first, "data": {**first["data"], "tiltakstype": "UKJENT"}},
        {**first, "data": {k: v for k, v in first["data"].items() if k != "fom"}},
        {**first, "data": {**first["data"], "person_pseudonym": IDENTER[0]}},
        {**first, "versjon": 0},
    ):
        assert not innvilget.is_valid(endret)


def test_the_erasure_tombstone_the_audit_work_publishes_fits_its_schema() -> None:
    k = envelope.Envelope(
        id=uuid4(),
        posisjon=42,
        aggregat="person",
        aggregat_id=uuid4(),
        versjon=3,
        type="PersonGlemt",
        skjema_versjon=1,
        registrert=datetime.now(UTC),
        aktor=envelope.Aktor(nav_ident="Z990001", enhet="0315"),
        correlation_id=UUID(int=1),
        data={"person_pseudonym": envelope.pseudonym(PSEUDONYM_KEY, Fodselsnummer(IDENTER[0]))},
    )
    tombstone = validator("schemas/forlop.hendelse.person.PersonGlemt.json")

    assert envelope.subject(k) == "forlop.hendelse.person.PersonGlemt"
    assert tombstone.is_valid(msgspec.json.decode(msgspec.json.encode(k)))
    assert not tombstone.is_valid(
        msgspec.json.decode(msgspec.json.encode(msgspec.structs.replace(k, type="X")))
    )
