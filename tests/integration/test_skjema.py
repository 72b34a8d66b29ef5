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

from domain.commands import (
    Annuller,
    Avkort,
    AvsluttGaranti,
    AvsluttLop,
    EndreMalgruppe,
    FastsettSats,
    Forleng,
    InnvilgGaranti,
    InnvilgLop,
    InnvilgPermisjon,
    KobleAktivitet,
    KorrigerGaranti,
    KorrigerLop,
    NyttLop,
    Overgang,
    PlanleggSamtale,
    RegistrerSamhandling,
    RegistrerSamtale,
    RegistrerUtdanningsvurdering,
    RegistrerVurdering,
    TilbyArbeidsgiveroppfolging,
    TildelKontaktperson,
)
from domain.common import Aktor, Kontekst
from domain.config import STANDARD
from domain.ident import Fodselsnummer
from projections.oversikt import Oversikt
from projections.runner import Runner, opprett
from store import envelope
from store.mapper import ForlopMapper
from store.recorder import AsyncPostgresRecorder, create_pool
from store.repository import EventStore
from store.service import CommandContext, Service
from tests.hjelp import garanti_grant, lop_grant
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


def grant(nr: int, tiltakstype: str = "ARBEIDSTRENING", **extra: Any) -> InnvilgLop:
    verdier: dict[str, Any] = dict(
        person=IDENTER[nr],
        fodselsdato=date(1990, 8, 15),
        tiltakstype=tiltakstype,
        malgruppe="NEDSATT_ARBEIDSEVNE",
        fom=date(2025, 1, 1),
        tom=date(2025, 12, 31),
        nav_enhet="0315",
        vedtak_ref="V-1",
    )
    return lop_grant(**(verdier | extra))


def ung(nr: int, ref: str) -> InnvilgGaranti:
    return garanti_grant(
        person=IDENTER[nr], fodselsdato=date(2000, 8, 15), fom=date(2025, 1, 2), nav_enhet="0315",
        bistandsbehov_vedtak_ref=ref,
    )  # fmt: skip


async def every_event_type(t: Service) -> None:
    """At least one event of every published type of both aggregates, through the command service."""

    def c() -> CommandContext:
        return CommandContext(ktx())

    # Tiltaksløp: grant, extension, shortening, correction, target group, then a transition (end + grant).
    lop = (await t.innvilg_lop(grant(0), c())).id
    await t.forleng(lop, Forleng(ny_tom=date(2026, 3, 31), aarsak="NEDSATT_ARBEIDSEVNE"), c())
    await t.avkort(lop, Avkort(ny_tom=date(2026, 2, 28)), c())
    await t.korriger_lop(lop, KorrigerLop(vedtak_ref="V-2", begrunnelse="ny referanse"), c())
    await t.endre_malgruppe(
        lop, EndreMalgruppe(ny_malgruppe="ARBEIDSSOKER", fom=date(2025, 3, 1), vedtak_ref="AEV-3"), c()
    )
    til = NyttLop(
        tiltakstype="OPPFOLGING", malgruppe="NEDSATT_ARBEIDSEVNE", fom=date(2025, 7, 1), tom=date(2025, 12, 31),
        nav_enhet="0315", vedtak_ref="V-3",
    )  # fmt: skip
    await t.overgang(lop, Overgang(sluttdato=date(2025, 6, 30), til=til), c())
    annullert = (await t.innvilg_lop(grant(1), c())).id
    await t.annuller(annullert, Annuller(begrunnelse="innvilget ved en feil"), c())
    avsluttet = (await t.innvilg_lop(grant(2), c())).id
    await t.avslutt_lop(avsluttet, AvsluttLop(sluttdato=date(2025, 11, 30), aarsak="FULLFORT"), c())
    aft = (await t.innvilg_lop(grant(3, "AFT"), c())).id
    vurdering = RegistrerVurdering(dato=date(2025, 3, 31), type="AFT_STATUS_PROGRESJON", utfall="FORTSETTER")
    await t.registrer_vurdering(aft, vurdering, c())
    lts = (await t.innvilg_lop(grant(4, "MIDLERTIDIG_LONNSTILSKUDD", malgruppe="ARBEIDSSOKER"), c())).id
    await t.fastsett_sats(lts, FastsettSats(prosent=35, fom=date(2025, 3, 1)), c())
    vta = (await t.innvilg_lop(grant(5, "VTA", tom=None), c())).id
    permisjon = InnvilgPermisjon(
        fom=date(2025, 3, 1), tom=date(2025, 8, 28), type="HOSPITERING", vertsbedrift="Bedrift AS"
    )
    await t.innvilg_permisjon(vta, permisjon, c())

    # Ungdomsgaranti: every command, then the end and a correction.
    egen_lop = (await t.innvilg_lop(grant(6, fodselsdato=date(2000, 8, 15)), c())).id
    garanti = (await t.innvilg_garanti(ung(6, "14A-1"), c())).id
    await t.tildel_kontaktperson(garanti, TildelKontaktperson(nav_ident="Z990001", fom=date(2025, 1, 2)), c())
    bytte = TildelKontaktperson(nav_ident="Z990002", fom=date(2025, 2, 1), begrunnelse="permisjon")
    await t.tildel_kontaktperson(garanti, bytte, c())
    await t.planlegg_samtale(garanti, PlanleggSamtale(dato=date(2025, 2, 5), kanal="MOTE"), c())
    await t.registrer_samtale(garanti, RegistrerSamtale(dato=date(2025, 2, 5), kanal="VIDEO"), c())
    vurdert = RegistrerUtdanningsvurdering(dato=date(2025, 2, 6), utfall="fagbrev anbefalt")
    await t.registrer_utdanningsvurdering(garanti, vurdert, c())
    await t.koble_aktivitet(
        garanti, KobleAktivitet(kind="TILTAK", fom=date(2025, 3, 1), tiltakslop_id=egen_lop), c()
    )
    await t.registrer_samhandling(garanti, RegistrerSamhandling(instans="HELSE", dato=date(2025, 3, 2)), c())
    tilbud = TilbyArbeidsgiveroppfolging(arbeidsgiver_orgnr=ORGNR, dato=date(2025, 3, 3))
    await t.tilby_arbeidsgiveroppfolging(garanti, tilbud, c())
    await t.avslutt_garanti(garanti, AvsluttGaranti(tom=date(2025, 6, 30), aarsak="BEHOV_OPPHORT"), c())
    await t.korriger_garanti(garanti, KorrigerGaranti(begrunnelse="feil enhet", nav_enhet="4601"), c())

    # An open guarantee with a contact person: its alerts carry `kontaktperson`.
    apen = (await t.innvilg_garanti(ung(7, "14A-2"), c())).id
    await t.tildel_kontaktperson(apen, TildelKontaktperson(nav_ident="Z990003", fom=date(2025, 1, 2)), c())


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
    types = {(a, k.__name__) for a, k in schemas.event_classes()}

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
    assert seen == {(a, k.__name__) for a, k in schemas.event_classes()}

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
