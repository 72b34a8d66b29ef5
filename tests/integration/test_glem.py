"""Forgetting a person (GDPR erasure) against real PostgreSQL and a real nats-server: personal fields are
encrypted under a per-person key from the start; `Service.glem` destroys the key and appends the tombstone;
afterwards nothing of the person is readable anywhere, the log still verifies, and other people's cases are
untouched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from uuid import UUID

import asyncpg
import pytest
from eventsourcing.persistence import StoredEvent

from domain.commands import Forleng, TildelKontaktperson
from domain.config import STANDARD
from domain.errors import PersonGlemt
from domain.ident import Fodselsnummer
from domain.person import person_id
from projections.oversikt import Oversikt
from projections.rebuild import rebuild_views
from projections.runner import opprett
from store.envelope import pseudonym
from store.mapper import ForlopMapper, mapper_for, verify_chain
from store.recorder import AsyncPostgresRecorder, create_pool
from store.repository import EventStore
from store.service import CommandContext, Service
from tests.hjelp import garanti_grant, identer, ktx, lop_grant, ta_igjen
from tests.integration.nats_hjelp import ledig_port, les_strom
from workers.embedded_nats import start_nats
from workers.nats_setup import HENDELSER
from workers.relay import Relay

KEY = b"glem-person-key"
PSEUDONYM_KEY = b"glem-pseudonym-key"
A = identer(1, "200503")[0]
A_FODT = date(2003, 5, 20)
B = identer(2)[1]
B_FODT = date(1990, 8, 15)
PER = date(2025, 3, 1)


def oversikt() -> Oversikt:
    # Its own mapper, so its own key cache: as the projection runner in another process.
    return Oversikt(mapper_for(KEY, kryptert=True), STANDARD, KEY)


@pytest.fixture
async def tjeneste(database_url) -> AsyncIterator[Service]:
    pool = await create_pool(database_url)
    recorder = AsyncPostgresRecorder(pool)
    await opprett(pool, oversikt())
    try:
        yield Service(EventStore(recorder, mapper_for(KEY, kryptert=True), snapshot_every=2), STANDARD, KEY)
    finally:
        await recorder.close()
        await pool.close()


@pytest.fixture
def nats_server(tmp_path):
    port = ledig_port()
    url, proc = start_nats(tmp_path / "nats", port)
    yield url
    proc.terminate()
    proc.wait(10)


def spor(ident: str, fodt: date) -> list[bytes]:
    """What must not be found in stored bytes: the identifier and the birth date in the forms JSON uses."""
    return [ident.encode(), fodt.isoformat().encode(), f"{fodt:%d%m%y}".encode()]


async def raa_bytes(pool: asyncpg.Pool) -> dict[str, list[bytes]]:
    return {
        "events": [bytes(r[0]) for r in await pool.fetch("SELECT state FROM forlop_events")],
        "snapshots": [bytes(r[0]) for r in await pool.fetch("SELECT state FROM forlop_snapshots")],
        "v_lop": [str(tuple(r)).encode() for r in await pool.fetch("SELECT * FROM v_lop")]
        + [bytes(r[0]) for r in await pool.fetch("SELECT tilstand FROM v_lop")],
        "v_garanti": [str(tuple(r)).encode() for r in await pool.fetch("SELECT * FROM v_garanti")]
        + [bytes(r[0]) for r in await pool.fetch("SELECT tilstand FROM v_garanti")],
    }


def funn(blobs: dict[str, list[bytes]], ident: str, fodt: date) -> list[str]:
    return [f"{hvor}: {s!r}" for hvor, liste in blobs.items() for b in liste for s in spor(ident, fodt) if s in b]


async def catch_up(database_url: str, projeksjon: Oversikt) -> None:
    await ta_igjen(database_url, projeksjon)


async def relay_alt(database_url: str, nats_url: str, relay: Relay, tjeneste: Service) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    hode = await tjeneste.store.recorder.pool.fetchval("SELECT max(notification_id) FROM forlop_events")
    for _ in range(600):
        if relay.status.posisjon >= hode:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert relay.status.posisjon >= hode


async def innvilg(tjeneste: Service, ident: str, fodt: date, **extra):
    grant = dict(
        person=ident, fodselsdato=fodt, tiltakstype="ARBEIDSTRENING", malgruppe="NEDSATT_ARBEIDSEVNE",
        fom=date(2025, 1, 1), tom=date(2025, 6, 30), nav_enhet="0315", vedtak_ref="V-1",
    )
    grant.update(extra)
    return await tjeneste.innvilg_lop(lop_grant(**grant), CommandContext(ktx()))


async def test_a_forgotten_person_is_unreadable_everywhere_and_the_log_still_verifies(
    tjeneste, database_url, nats_server
):
    pool = tjeneste.store.recorder.pool
    lop_a = await innvilg(tjeneste, A, A_FODT)
    await tjeneste.forleng(
        lop_a.id, Forleng(ny_tom=date(2025, 9, 30), aarsak="BEHOV_VIDERE"), CommandContext(ktx())
    )
    garanti_a = await tjeneste.innvilg_garanti(
        garanti_grant(
            person=A,
            fodselsdato=A_FODT,
            fom=date(2025, 1, 2),
            nav_enhet="0315",
            bistandsbehov_vedtak_ref="14A-1",
        ),
        CommandContext(ktx()),
    )
    await tjeneste.tildel_kontaktperson(
        garanti_a.id, TildelKontaktperson(nav_ident="Z990002", fom=date(2025, 1, 3)), CommandContext(ktx())
    )
    lop_b = await innvilg(tjeneste, B, B_FODT)
    await tjeneste.forleng(
        lop_b.id, Forleng(ny_tom=date(2025, 9, 30), aarsak="BEHOV_VIDERE"), CommandContext(ktx())
    )
    projeksjon = oversikt()
    await catch_up(database_url, projeksjon)

    # Never stored in clear, not even before the erasure: events, snapshots (snapshot_every=2) and views.
    for_glemsel = await raa_bytes(pool)
    assert for_glemsel["snapshots"], "the test means to check snapshots too"
    assert await pool.fetchval("SELECT count(*) FROM v_lop") == 2
    assert funn(for_glemsel, A, A_FODT) == [] and funn(for_glemsel, B, B_FODT) == []
    # ... yet they read back (the key is live).
    assert (await tjeneste.read_lop(lop_a.id, PER)).person.ident == A
    assert (await tjeneste.read_garanti(garanti_a.id, PER)).person.fodselsdato == A_FODT

    relay = Relay(database_url, nats_server, PSEUDONYM_KEY, poll_seconds=0.1, mapper=mapper_for(KEY, kryptert=True))
    await relay_alt(database_url, nats_server, relay, tjeneste)
    for_meldinger = await les_strom(nats_server, HENDELSER, "forlop.hendelse.>")
    pseudonym_a = pseudonym(PSEUDONYM_KEY, Fodselsnummer(A))
    assert any(m[1]["data"].get("person_pseudonym") == pseudonym_a for m in for_meldinger)

    b_for = await tjeneste.read_lop(lop_b.id, PER)
    b_historikk_for, _ = await tjeneste.history(lop_b.id, "tiltakslop")
    b_rader_for = [tuple(r) for r in await pool.fetch("SELECT * FROM v_lop WHERE lop_id = $1", lop_b.id)]

    # Forget A (the tombstone is stored on the person record), then more work happens for B.
    glemsel = await tjeneste.glem(Fodselsnummer(A), ktx("SYSTEM", None), pseudonym_a)
    assert glemsel.nokkel_odelagt and glemsel.posisjon is not None
    igjen = await tjeneste.glem(Fodselsnummer(A), ktx("SYSTEM", None), pseudonym_a)
    assert igjen.posisjon is None and not igjen.nokkel_odelagt  # idempotent: nothing more recorded
    await tjeneste.forleng(
        lop_b.id, Forleng(ny_tom=date(2025, 11, 30), aarsak="BEHOV_VIDERE"), CommandContext(ktx())
    )
    await catch_up(database_url, projeksjon)
    await relay_alt(database_url, nats_server, relay, tjeneste)

    # Views: no row of A; the raw bytes everywhere hold nothing of A.
    pid_a = person_id(KEY, Fodselsnummer(A))
    assert await pool.fetchval("SELECT count(*) FROM v_lop WHERE person = $1", pid_a) == 0
    assert await pool.fetchval("SELECT count(*) FROM v_garanti WHERE person = $1", pid_a) == 0
    assert funn(await raa_bytes(pool), A, A_FODT) == []
    assert await pool.fetchval("SELECT nokkel FROM forlop_personnokler WHERE person_id = $1", pid_a) is None

    # NATS: the tombstone with A's pseudonym; nothing published after the erasure names A.
    etter = [m for m in await les_strom(nats_server, HENDELSER, "forlop.hendelse.>") if m[0] > len(for_meldinger)]
    gravsteiner = [m[1] for m in etter if m[1]["type"] == "PersonGlemt"]
    assert len(gravsteiner) == 1
    assert gravsteiner[0]["aggregat"] == "person" and gravsteiner[0]["data"] == {"person_pseudonym": pseudonym_a}
    assert [m[1]["type"] for m in etter][0] == "PersonGlemt" and len(etter) == 2
    for _, payload, _ in etter:
        tekst = str(payload).encode()
        assert not any(s in tekst for s in spor(A, A_FODT))

    # A relay replaying A's old events now (e.g. `forlop relay replay`) publishes no trace of A either.
    rader = await pool.fetch("SELECT notification_id, originator_id, originator_version, topic, state FROM forlop_events")
    from projections.runner import to_notifications
    from store.envelope import make_envelope

    mapper = mapper_for(KEY, kryptert=True)
    notifikasjoner = to_notifications(rader)
    await mapper.prepare_reading(pool, (n.state for n in notifikasjoner))
    for n in notifikasjoner:
        k = make_envelope(mapper, n, PSEUDONYM_KEY)
        if k is not None and k.aggregat_id in (lop_a.id, garanti_a.id):
            assert "person_pseudonym" not in k.data and k.data.get("fodselsdato") is None

    # History: the personal fields show as erased; reads and commands answer 410 PERSON_GLEMT.
    historikk, _ = await tjeneste.history(lop_a.id, "tiltakslop")
    innvilget = historikk.elementer[0]
    assert innvilget.type == "TiltakslopInnvilget"
    assert innvilget.data["fodselsdato"] is None and innvilget.data["glemt"] is True
    assert "person" not in innvilget.data
    ghistorikk, _ = await tjeneste.history(garanti_a.id, "ungdomsgaranti")
    assert ghistorikk.elementer[0].data["glemt"] is True
    with pytest.raises(PersonGlemt):
        await tjeneste.read_lop(lop_a.id, PER)
    with pytest.raises(PersonGlemt):
        await tjeneste.read_garanti(garanti_a.id, PER)
    with pytest.raises(PersonGlemt):
        await tjeneste.forleng(
            lop_a.id, Forleng(ny_tom=date(2025, 12, 31), aarsak="BEHOV_VIDERE"), CommandContext(ktx())
        )
    assert await tjeneste.oversikt(Fodselsnummer(A), PER) == ([], [])
    # A fresh process (empty cache) reads the same: the key is gone from the database, not just a cache.
    fersk = Service(EventStore(tjeneste.store.recorder, mapper_for(KEY, kryptert=True)), STANDARD, KEY)
    with pytest.raises(PersonGlemt):
        await fersk.read_lop(lop_a.id, PER)

    # The log verifies for every stream, without any key.
    stored = [
        StoredEvent(r[0], r[1], r[2], bytes(r[3]))
        for r in await pool.fetch(
            "SELECT originator_id, originator_version, topic, state FROM forlop_events "
            "ORDER BY originator_id, originator_version"
        )
    ]
    assert len({s.originator_id for s in stored}) == 5  # 2 løp, 1 guarantee, 2 person records
    assert verify_chain(stored) == []
    from store import verification  # `forlop verify`'s check, with a checkpoint signed after the erasure

    conn = await asyncpg.connect(database_url)
    try:
        nokkel = verification.signing_key_from(b"glem-signing")
        await verification.write_checkpoint(conn, nokkel)
        svar = await verification.verify_log(conn, nokkel.public_key())
        assert svar.ok and svar.strommer == 5
    finally:
        await conn.close()

    # A rebuild of the views has no row for A, and B's rows are as the runner left them.
    b_rader_live = [tuple(r) for r in await pool.fetch("SELECT * FROM v_lop WHERE lop_id = $1", lop_b.id)]
    await rebuild_views(database_url, oversikt())
    assert await pool.fetchval("SELECT count(*) FROM v_lop WHERE person = $1", pid_a) == 0
    assert await pool.fetchval("SELECT count(*) FROM v_garanti") == 0
    assert [r[:-1] for r in b_rader_live] == [
        tuple(r)[:-1] for r in await pool.fetch("SELECT * FROM v_lop WHERE lop_id = $1", lop_b.id)
    ]
    assert funn(await raa_bytes(pool), A, A_FODT) == []

    # B is untouched: the same reads as before (but for the new extension), the same history before it.
    b_etter = await tjeneste.read_lop(lop_b.id, PER)
    assert b_etter.person.ident == B and b_etter.person.fodselsdato == B_FODT
    assert b_etter.tom == date(2025, 11, 30)
    felt = ("person", "fom", "tiltakstype", "nav_enhet", "malgruppe", "status", "regelsett_id")
    assert [getattr(b_etter, f) for f in felt] == [getattr(b_for, f) for f in felt]
    b_historikk_etter, _ = await tjeneste.history(lop_b.id, "tiltakslop")
    assert b_historikk_etter.elementer[: len(b_historikk_for.elementer)] == b_historikk_for.elementer
    assert b_rader_for[0][2] == b_rader_live[0][2]  # same person column


async def test_events_stored_in_clear_before_encryption_still_load_and_can_be_forgotten(tjeneste, database_url):
    pool = tjeneste.store.recorder.pool
    klar = Service(EventStore(tjeneste.store.recorder, ForlopMapper()), STANDARD, KEY)
    lop = await innvilg(klar, A, A_FODT)
    assert any(A.encode() in bytes(r[0]) for r in await pool.fetch("SELECT state FROM forlop_events"))

    assert (await tjeneste.read_lop(lop.id, PER)).person.ident == A  # the encrypting mapper reads clear
    await tjeneste.forleng(
        lop.id, Forleng(ny_tom=date(2025, 9, 30), aarsak="BEHOV_VIDERE"), CommandContext(ktx())
    )
    await catch_up(database_url, oversikt())
    rad = await pool.fetchrow("SELECT tilstand FROM v_lop WHERE lop_id = $1", lop.id)
    assert A.encode() not in bytes(rad[0])  # re-encoded for the view under a key created for the person

    await tjeneste.glem(Fodselsnummer(A), ktx("SYSTEM", None), pseudonym(PSEUDONYM_KEY, Fodselsnummer(A)))
    await catch_up(database_url, oversikt())
    assert await pool.fetchval("SELECT count(*) FROM v_lop") == 0
    await rebuild_views(database_url, oversikt())
    assert await pool.fetchval("SELECT count(*) FROM v_lop") == 0


async def test_a_forgotten_person_who_returns_gets_a_new_key_and_the_old_cases_stay_erased(tjeneste, database_url):
    gammel = await innvilg(tjeneste, A, A_FODT)
    await tjeneste.glem(Fodselsnummer(A), ktx("SYSTEM", None), pseudonym(PSEUDONYM_KEY, Fodselsnummer(A)))
    ny = await innvilg(tjeneste, A, A_FODT, fom=date(2025, 2, 1))  # no overlap refusal: the record let go

    assert (await tjeneste.read_lop(ny.id, PER)).person.ident == A
    with pytest.raises(PersonGlemt):
        await tjeneste.read_lop(gammel.id, PER)
    fersk = Service(EventStore(tjeneste.store.recorder, mapper_for(KEY, kryptert=True)), STANDARD, KEY)
    with pytest.raises(PersonGlemt):
        await fersk.read_lop(gammel.id, PER)
    lop, _ = await fersk.oversikt(Fodselsnummer(A), PER)
    assert [x.id for x in lop] == [ny.id]
    await catch_up(database_url, oversikt())
    ids = {r[0] for r in await tjeneste.store.recorder.pool.fetch("SELECT lop_id FROM v_lop")}
    assert ids == {ny.id}
    assert isinstance(next(iter(ids)), UUID)


async def test_forlop_glem_reads_the_identifier_from_a_file_and_forgets(tjeneste, database_url, tmp_path, capsys):
    from store.settings import Settings
    from workers.cli import forget_person, read_identifier

    lop = await innvilg(tjeneste, A, A_FODT)
    await catch_up(database_url, oversikt())
    fil = tmp_path / "ident"
    fil.write_text(A + "\n")
    settings = Settings(
        data_dir=tmp_path, database_url=database_url, person_key=KEY.decode(), pseudonym_key="p", field_encryption=True
    )
    assert await forget_person(settings, read_identifier(fil)) == 0
    ut = capsys.readouterr().out
    assert "forgotten" in ut and A not in ut and "1 view rows deleted" in ut
    with pytest.raises(PersonGlemt):
        await Service(
            EventStore(tjeneste.store.recorder, mapper_for(KEY, kryptert=True)), STANDARD, KEY
        ).read_lop(lop.id, PER)
    assert await forget_person(settings, A) == 0
    assert "already forgotten" in capsys.readouterr().out
    assert await forget_person(settings, "12345678901") == 2
