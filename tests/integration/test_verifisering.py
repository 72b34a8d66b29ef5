"""Verifying the log against real PostgreSQL: per-stream hash chains, signed checkpoints, `forlop verify` as a
subprocess, and the checkpoint worker. Tampering is done the way an intruder with database access would do
it: UPDATE/DELETE on the stored rows, and for the consistent rewrite, new links computed with store.mapper's
own chain functions."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest

from store import verification
from store.mapper import ZERO_LINK, chained_state
from tests.integration.eksempel import REGELSETT, close_store, kontekst, ny_konto, open_store
from workers.checkpoints import CheckpointWorker

ROOT = Path(__file__).resolve().parents[2]
SIGNING = "test-signing-key-" + "s" * 32
NOKKEL = verification.signing_key_from(SIGNING.encode())


async def skriv_kontoer(database_url: str, antall: int = 4, innskudd: int = 3) -> list[UUID]:
    """`antall` accounts, each opened and given `innskudd` deposits: streams of 1 + innskudd events."""
    store = await open_store(database_url, snapshot_every=None)
    try:
        ids = []
        for _ in range(antall):
            konto = ny_konto()
            for i in range(innskudd):
                konto.sett_inn(Decimal(100 + i), kontekst(), REGELSETT)
            await store.save(konto)
            ids.append(konto.id)
        return ids
    finally:
        await close_store(store)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(database_url)
    try:
        yield c
    finally:
        await c.close()


def forlop_verify(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "FORLOP_SIGNING_KEY": SIGNING,
        "FORLOP_DATA_DIR": str(tmp_path),
    }
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "verify", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


async def verify_log(conn: asyncpg.Connection, **kwargs: object) -> verification.Verification:
    return await verification.verify_log(conn, NOKKEL.public_key(), **kwargs)  # type: ignore[arg-type]


async def endre_body(conn: asyncpg.Connection, strom: UUID, versjon: int, gammel: bytes, ny: bytes) -> str:
    """Alter one stored event as an intruder would, in its body only: the stored link before the body is kept
    (a random link that happens to hold `gammel` must not change too, which would break the next link as well)."""
    state = bytes(await conn.fetchval(
        "SELECT state FROM forlop_events WHERE originator_id = $1 AND originator_version = $2", strom, versjon
    ))
    lenke, body = state[:verification.PREFIX], state[verification.PREFIX:]
    assert gammel in body
    return str(await conn.execute(
        "UPDATE forlop_events SET state = $3 WHERE originator_id = $1 AND originator_version = $2",
        strom, versjon, lenke + body.replace(gammel, ny),
    ))


async def skriv_om_strom(conn: asyncpg.Connection, strom: UUID, gammel: bytes, ny: bytes) -> int:
    """Rewrite every event of `strom` (replace `gammel` by `ny` in its body) and recompute every link of the
    stream with store.mapper's chain functions, so that the stream's chain holds again. Returns the rows."""
    rows = await conn.fetch(
        "SELECT originator_version, topic, state FROM forlop_events WHERE originator_id = $1 "
        "ORDER BY originator_version", strom,
    )
    forrige = ZERO_LINK
    for versjon, topic, state in rows:
        body = b"{" + bytes(state)[verification.PREFIX:].replace(gammel, ny)
        forrige, ny_state = chained_state(forrige, strom, versjon, topic, body)
        await conn.execute(
            "UPDATE forlop_events SET state = $3 WHERE originator_id = $1 AND originator_version = $2",
            strom, versjon, ny_state,
        )
    return len(rows)


# Check: an untouched log verifies, via the CLI too, which exits 0.
async def test_an_untouched_log_verifies(database_url: str, conn: asyncpg.Connection, tmp_path: Path) -> None:
    await skriv_kontoer(database_url)

    svar = await verify_log(conn)
    cli = forlop_verify(database_url, tmp_path)

    assert svar.ok and svar.hendelser == 16 and svar.strommer == 4 and svar.lenkefeil == []
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "16 events in 4 streams" in cli.stdout and ": OK" in cli.stdout


# Check: one row altered directly in PostgreSQL: `forlop verify` names that stream and version, exits non-zero.
async def test_forlop_verify_names_an_altered_row_and_exits_non_zero(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    ids = await skriv_kontoer(database_url)
    strom = ids[2]
    assert await endre_body(conn, strom, 3, b"101", b"901") == "UPDATE 1"

    cli = forlop_verify(database_url, tmp_path)

    assert cli.returncode == 1, cli.stdout + cli.stderr
    feillinjer = [line for line in cli.stdout.splitlines() if line.startswith("stream ")]
    assert len(feillinjer) == 1, cli.stdout
    assert feillinjer[0].startswith(f"stream {strom} version 3 ") and "LINK_MISMATCH" in feillinjer[0]
    assert "FAILED" in cli.stdout
    assert "events" in cli.stderr  # the progress bar


# Check: a stored link itself altered (that row and the next are named), a deleted middle row, and a row
# without a link.
async def test_each_kind_of_broken_link_is_named(database_url: str, conn: asyncpg.Connection) -> None:
    a, b, c, _ = await skriv_kontoer(database_url)
    await conn.execute(
        "UPDATE forlop_events SET state = overlay(state PLACING '0000' FROM 11) "
        "WHERE originator_id = $1 AND originator_version = 2", a,
    )
    await conn.execute("DELETE FROM forlop_events WHERE originator_id = $1 AND originator_version = 2", b)
    await conn.execute(
        "UPDATE forlop_events SET state = '{\"x\":1}'::bytea WHERE originator_id = $1 AND originator_version = 4", c
    )

    svar = await verify_log(conn)

    funnet = {(f.aggregat_id, f.versjon, f.grunn) for f in svar.lenkefeil}
    assert funnet == {
        (a, 2, "LINK_MISMATCH"),  # its stored link no longer matches its content,
        (a, 3, "LINK_MISMATCH"),  # and the next version no longer follows the link stored before it
        (b, 3, "VERSION_GAP"),
        (c, 4, "LINK_MISSING"),
    }
    assert not svar.ok and svar.antall_lenkefeil == 4


# Check: a whole stream rewritten with consistently recomputed links passes every per-stream check, but the
# signed checkpoint covering it fails, in process and through `forlop verify`.
async def test_a_consistently_rewritten_stream_is_caught_by_the_signed_checkpoint(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    ids = await skriv_kontoer(database_url)
    cli = forlop_verify(database_url, tmp_path, "--checkpoint")
    assert cli.returncode == 0 and "checkpoint 1 signed at position 16 (16 events)" in cli.stdout, cli.stdout
    await skriv_kontoer(database_url, antall=1)  # after the checkpoint: covered by the chains only

    assert await skriv_om_strom(conn, ids[1], b'"belop":"101"', b'"belop":"100001"') == 4

    svar = await verify_log(conn)
    assert svar.lenkefeil == [] and svar.antall_lenkefeil == 0  # every link holds
    assert [(c.nr, c.posisjon, c.grunner) for c in svar.sjekkpunktfeil] == [(1, 16, ["LOG_CHANGED"])]
    assert not svar.ok
    cli = forlop_verify(database_url, tmp_path)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert "checkpoint 1 (position 16): LOG_CHANGED" in cli.stdout
    assert not [line for line in cli.stdout.splitlines() if line.startswith("stream ")]


# Check: checkpoints chain segment by segment: a rewrite in the second segment fails only the second
# checkpoint; a deleted tail (invisible to the chains) fails the last one.
async def test_each_checkpoint_covers_its_own_segment(database_url: str, conn: asyncpg.Connection) -> None:
    forste = await skriv_kontoer(database_url, antall=2)
    sp1 = await verification.write_checkpoint(conn, NOKKEL)
    andre = await skriv_kontoer(database_url, antall=2)
    sp2 = await verification.write_checkpoint(conn, NOKKEL)
    assert await verification.write_checkpoint(conn, NOKKEL) is None  # nothing new
    assert sp1 is not None and sp2 is not None
    assert (sp1.nr, sp1.posisjon, sp1.antall, sp2.nr, sp2.posisjon, sp2.antall) == (1, 8, 8, 2, 16, 16)
    assert (await verify_log(conn)).ok

    await skriv_om_strom(conn, andre[0], REGELSETT.encode(), b"R-FORFALSKET")
    svar = await verify_log(conn)
    assert svar.lenkefeil == [] and [(c.nr, c.grunner) for c in svar.sjekkpunktfeil] == [(2, ["LOG_CHANGED"])]

    await skriv_om_strom(conn, andre[0], b"R-FORFALSKET", REGELSETT.encode())  # put back: all holds again
    assert (await verify_log(conn)).ok
    await conn.execute(
        "DELETE FROM forlop_events WHERE originator_id = $1 AND originator_version = 4", andre[1]
    )  # the last event of the log: no later link points at it
    svar = await verify_log(conn)
    assert svar.lenkefeil == [] and [(c.nr, c.grunner) for c in svar.sjekkpunktfeil] == [(2, ["LOG_CHANGED"])]
    assert forste  # the first segment is untouched throughout


# Check: checkpoint rows are append-only, and one altered behind the trigger's back is named.
async def test_checkpoint_rows_are_append_only_and_their_alteration_is_detected(
    database_url: str, conn: asyncpg.Connection
) -> None:
    await skriv_kontoer(database_url, antall=2)
    await verification.write_checkpoint(conn, NOKKEL)
    await skriv_kontoer(database_url, antall=1)
    await verification.write_checkpoint(conn, NOKKEL)
    tabell = verification.tabell()
    for sql in (f"UPDATE {tabell} SET antall = 1", f"DELETE FROM {tabell}", f"TRUNCATE {tabell}"):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute(sql)

    await conn.execute(f"ALTER TABLE {tabell} DISABLE TRIGGER USER")
    await conn.execute(f"UPDATE {tabell} SET opprettet = opprettet - interval '1 day' WHERE nr = 1")
    await conn.execute(f"UPDATE {tabell} SET signatur = overlay(signatur PLACING '\\x00'::bytea FROM 1) WHERE nr = 2")
    svar = await verify_log(conn)

    assert svar.lenkefeil == []
    assert [(c.nr, c.grunner) for c in svar.sjekkpunktfeil] == [
        (1, ["CHECKPOINT_ALTERED"]),
        (2, ["SIGNATURE_INVALID"]),
    ]
    annen = verification.signing_key_from(b"another key").public_key()
    svar = await verification.verify_log(conn, annen)
    assert {tuple(c.grunner) for c in svar.sjekkpunktfeil} >= {("UNKNOWN_KEY",)}


# Check: a log whose new events do not hold their links is not signed.
async def test_a_broken_segment_is_not_signed(database_url: str, conn: asyncpg.Connection) -> None:
    ids = await skriv_kontoer(database_url, antall=2)
    await endre_body(conn, ids[0], 4, b"102", b"902")

    with pytest.raises(verification.LogBroken) as refusal:
        await verification.write_checkpoint(conn, NOKKEL)

    assert [(f.aggregat_id, f.versjon) for f in refusal.value.feil] == [(ids[0], 4)]
    assert await verification.latest_checkpoint(conn) is None


# Check: `--stream` checks one stream and names only its failures.
async def test_forlop_verify_of_one_stream(database_url: str, conn: asyncpg.Connection, tmp_path: Path) -> None:
    ids = await skriv_kontoer(database_url, antall=3)
    for strom in ids[:2]:
        await endre_body(conn, strom, 2, b"100", b"700")

    feil = forlop_verify(database_url, tmp_path, "--stream", str(ids[1]))
    ok = forlop_verify(database_url, tmp_path, "--stream", str(ids[2]))

    assert feil.returncode == 1 and f"stream {ids[1]} version 2 " in feil.stdout
    assert str(ids[0]) not in feil.stdout
    assert ok.returncode == 0 and "4 events in 1 streams" in ok.stdout, ok.stdout


# Check: the worker signs once enough events have come, and the periodic checkpoint verifies.
async def test_the_checkpoint_worker_signs_new_events(database_url: str, conn: asyncpg.Connection) -> None:
    await skriv_kontoer(database_url, antall=1)
    arbeider = CheckpointWorker(database_url, SIGNING.encode(), every_events=4, interval=3600, poll_seconds=0.05)
    stopp = asyncio.Event()
    oppgave = asyncio.create_task(arbeider.run(stopp))
    try:
        async with asyncio.timeout(20):
            while arbeider.status.skrevet < 1:
                await asyncio.sleep(0.05)
            await skriv_kontoer(database_url, antall=1)
            while arbeider.status.skrevet < 2:
                await asyncio.sleep(0.05)
    finally:
        stopp.set()
        await asyncio.wait_for(oppgave, 10)

    svar = await verify_log(conn)
    assert svar.ok and svar.sjekkpunkter == 2 and svar.siste_sjekkpunkt is not None
    assert svar.siste_sjekkpunkt.posisjon == 8 and svar.siste_sjekkpunkt.antall == 8
    rad = await conn.fetchrow(f"SELECT * FROM {verification.tabell()} WHERE nr = 2")
    NOKKEL.public_key().verify(bytes(rad["signatur"]), bytes(rad["sammendrag"]))  # Ed25519, the documented key


# Check: a database where nothing was ever stored verifies (empty), and has nothing to sign.
async def test_an_empty_database_verifies(conn: asyncpg.Connection) -> None:
    svar = await verify_log(conn)

    assert svar.ok and svar.hendelser == 0 and svar.sjekkpunkter == 0
    assert await verification.write_checkpoint(conn, NOKKEL) is None
