"""The `forlop` command: `up` starts the whole stack on one machine; `config --defaults` prints defaults."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import date, datetime
from pathlib import Path
from uuid import UUID, uuid4

from store.settings import Settings, defaults_toml, load_settings


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text}") from None


def _parse_instant(text: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 instant: {text}") from None
    if instant.tzinfo is None:
        raise argparse.ArgumentTypeError(f"the instant needs an offset (Z or +01:00): {text}")
    return instant


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="forlop", description="Forløp: case lifecycles for NAV measures")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the embedded database, NATS and every worker that exists")
    up.add_argument("--data-dir", type=Path, default=None, help="default: FORLOP_DATA_DIR, else ./.forlop")
    up.add_argument("--port", type=int, default=None, help="default: FORLOP_PORT, else 8000")
    up.add_argument("--nats-port", type=int, default=4222)
    up.add_argument("--today", type=_parse_date, default=None)
    up.add_argument("--config", type=Path, default=None)

    token = sub.add_parser("token", help="print a JWT the local instance accepts")
    token.add_argument("--data-dir", type=Path, default=None, help="default: FORLOP_DATA_DIR, else ./.forlop")
    token.add_argument("--rolle", required=True, choices=["saksbehandler", "revisor", "system"])
    token.add_argument("--enhet", action="append", default=[], help="a NAV office; repeat for several")
    token.add_argument("--ident", default="Z990001", help="the actor's NAV ident (the token's sub)")
    token.add_argument("--config", type=Path, default=None)

    rebuild = sub.add_parser("rebuild", help="rebuild projections from the log into shadow tables and swap them in")
    rebuild.add_argument("--view", choices=sorted(_projeksjoner()), default=None, help="one view (default: all)")
    rebuild.add_argument("--data-dir", type=Path, default=None, help="default: FORLOP_DATA_DIR, else ./.forlop")
    rebuild.add_argument("--config", type=Path, default=None)
    rebuild.add_argument(
        "--arbeidere",
        type=int,
        default=None,
        help="processes for the first pass (default: one per CPU and per 25,000 events, at most 4)",
    )

    seed = sub.add_parser("seed", help="write a realistic synthetic caseload through the command service")
    seed.add_argument("--lop", type=int, required=True, help="number of løp (transitions included)")
    seed.add_argument("--garantier", type=int, default=0, help="number of youth guarantees")
    seed.add_argument("--seed", type=int, default=1, help="the same seed gives the same data set")
    seed.add_argument("--samtidige", type=int, default=16, help="concurrent writers (group commit)")
    seed.add_argument("--per-person", action="store_true", help="each person's history in one burst")
    seed.add_argument("--today", type=_parse_date, default=None, help="business date (default: today)")
    seed.add_argument("--data-dir", type=Path, default=None, help="default: FORLOP_DATA_DIR, else ./.forlop")
    seed.add_argument("--config", type=Path, default=None)

    replay_kjent = sub.add_parser("replay", help="rebuild every view as the system knew it at an instant")
    replay_kjent.add_argument("--kjent-per", required=True, type=_parse_instant, help="RFC 3339 instant")
    replay_kjent.add_argument("--data-dir", type=Path, default=None, help="default: FORLOP_DATA_DIR, else ./.forlop")
    replay_kjent.add_argument("--config", type=Path, default=None)

    runner = sub.add_parser("projeksjon", help="run one projection's runner (a standby waits for the lock)")
    runner.add_argument("--view", choices=sorted(_projeksjoner()), required=True)
    runner.add_argument("--data-dir", type=Path, default=None, help="default: FORLOP_DATA_DIR, else ./.forlop")
    runner.add_argument("--config", type=Path, default=None)
    runner.add_argument("--batch", type=int, default=500)

    relay = sub.add_parser("relay", help="run the event relay to NATS (a standby waits for the lock)")
    relay.add_argument("--data-dir", type=Path, default=None, help="default: FORLOP_DATA_DIR, else ./.forlop")
    relay.add_argument("--config", type=Path, default=None)
    relay_sub = relay.add_subparsers(dest="relay_command")
    replay = relay_sub.add_parser("replay", help="publish a range of the log again (same Msg-Ids)")
    replay.add_argument("--fra", type=int, required=True, help="first position (inclusive)")
    replay.add_argument("--til", type=int, default=None, help="last position (inclusive; default: the end)")
    replay.add_argument("--data-dir", type=Path, default=None, help="default: FORLOP_DATA_DIR, else ./.forlop")
    replay.add_argument("--config", type=Path, default=None)

    varsler = sub.add_parser("varsler", help="the deadline-alert worker")
    varsler_sub = varsler.add_subparsers(dest="varsler_command", required=True)
    kjor = varsler_sub.add_parser("kjor", help="decide the alerts open on a business date once and send them")
    kjor.add_argument("--per", type=_parse_date, required=True, help="the business date (YYYY-MM-DD)")
    kjor.add_argument("--data-dir", type=Path, default=None, help="default: FORLOP_DATA_DIR, else ./.forlop")
    kjor.add_argument("--config", type=Path, default=None)
    arbeider = varsler_sub.add_parser(
        "kjor-arbeider", help="run the alert worker until stopped (a standby waits for the lock)"
    )
    arbeider.add_argument("--today", type=_parse_date, default=None, help="pin the business date")
    arbeider.add_argument("--data-dir", type=Path, default=None, help="default: FORLOP_DATA_DIR, else ./.forlop")
    arbeider.add_argument("--config", type=Path, default=None)

    plan = sub.add_parser("planlegger", help="run the scheduler of automatic commands (FYLT_30; a standby waits)")
    plan.add_argument("--today", type=_parse_date, default=None, help="pin the business date")
    plan.add_argument("--data-dir", type=Path, default=None, help="default: FORLOP_DATA_DIR, else ./.forlop")
    plan.add_argument("--config", type=Path, default=None)

    api = sub.add_parser("api", help="serve only the HTTP API (stateless: run as many as you like)")
    api.add_argument("--host", default="127.0.0.1", help="listen address (0.0.0.0 in a container)")
    api.add_argument("--port", type=int, default=None, help="default: FORLOP_PORT, else 8000")
    api.add_argument("--today", type=_parse_date, default=None, help="pin the business date")
    api.add_argument("--data-dir", type=Path, default=None, help="default: FORLOP_DATA_DIR, else ./.forlop")
    api.add_argument("--config", type=Path, default=None)

    glem = sub.add_parser(
        "glem",
        help="forget a person (GDPR erasure): destroy the key of their personal fields; the identifier is "
        "read from stdin or --fil, never from the command line",
    )
    glem.add_argument("--fil", type=Path, default=None, help="a file holding the identifier (default: stdin)")
    glem.add_argument("--data-dir", type=Path, default=None, help="default: FORLOP_DATA_DIR, else ./.forlop")
    glem.add_argument("--config", type=Path, default=None)

    verify = sub.add_parser(
        "verify", help="check every stream's hash chain and every signed checkpoint; exit 1 if anything fails"
    )
    verify.add_argument("--stream", type=UUID, default=None, help="one stream (aggregate id) only; no checkpoints")
    verify.add_argument(
        "--checkpoint", action="store_true", help="first sign a checkpoint of the events since the last one"
    )
    verify.add_argument("--data-dir", type=Path, default=None, help="default: FORLOP_DATA_DIR, else ./.forlop")
    verify.add_argument("--config", type=Path, default=None)

    tail = sub.add_parser("tail", help="print events from NATS as a durable JetStream consumer would see them")
    tail.add_argument("--subject", default="forlop.hendelse.>")
    tail.add_argument("--durable", default="forlop-tail", help="consumer name: a restart resumes where it stopped")
    tail.add_argument("--nats-url", default=None, help="default: NATS_URL, else nats://127.0.0.1:4222")

    config = sub.add_parser("config", help="show configuration")
    config.add_argument("--defaults", action="store_true", help="print the default configuration (TOML)")
    return parser


def _projeksjoner() -> dict[str, object]:
    from workers.registry import PROJEKSJONER

    return dict(PROJEKSJONER)


def _database_url(settings: Settings) -> tuple[str, object | None]:
    """DATABASE_URL, or the embedded server under the data directory (started if it is not running)."""
    if settings.database_url:
        return settings.database_url, None
    from store.embedded import start_postgres

    return start_postgres(settings.data_dir.resolve() / "pg")


async def _rebuild(settings: Settings, views: list[str], arbeidere: int | None = None) -> None:
    from projections.rebuild import fremdriftslinje, gjenoppbygg
    from workers.registry import PROJEKSJONER

    dsn, server = _database_url(settings)
    try:
        for navn in views:
            print(f"rebuilding {navn}", file=sys.stderr)
            pos = await gjenoppbygg(
                dsn,
                PROJEKSJONER[navn](settings),
                events_table=settings.events_table,
                fremdrift=fremdriftslinje(),
                arbeidere=arbeidere,
            )
            print(f"{navn}: rebuilt to position {pos} and swapped in", flush=True)
    finally:
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


async def _seed(settings: Settings, args: argparse.Namespace) -> int:
    from api.common import i_dag
    from workers.seed import fremdriftslinje, sammendrag, seed_database

    dsn, server = _database_url(settings)
    try:
        plan, res = await seed_database(
            dsn,
            settings.regler,
            settings.secret("person"),
            kryptert=settings.field_encryption,
            lop=args.lop,
            garantier=args.garantier,
            seed=args.seed,
            i_dag=args.today or i_dag(settings),
            samtidige=args.samtidige,
            flettet=not args.per_person,
            events_table=settings.events_table,
            snapshot_every=settings.snapshot_interval,
            fremdrift=fremdriftslinje(),
        )
        print(sammendrag(plan, res), flush=True)
        return 1 if res.avvist else 0
    finally:
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


async def _replay_kjent(settings: Settings, kjent_per: datetime) -> None:
    from projections.as_known import spill_av
    from workers.registry import PROJEKSJONER

    dsn, server = _database_url(settings)
    try:
        projeksjoner = [lag(settings) for lag in PROJEKSJONER.values()]
        skjema, antall = await spill_av(dsn, projeksjoner, kjent_per, events_table=settings.events_table)
        print(f"views as known at {kjent_per.isoformat()}: {antall} events into schema {skjema}", flush=True)
    finally:
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


async def _runner(settings: Settings, view: str, batch: int) -> None:
    from projections.runner import Runner
    from workers.registry import PROJEKSJONER

    dsn, server = _database_url(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        runner = Runner(dsn, PROJEKSJONER[view](settings), events_table=settings.events_table, batch=batch)
        await runner.kjor(stop)
    finally:
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


async def _varsler_kjor(settings: Settings, per: date) -> None:
    from workers.registry import oversikt
    from workers.varsler import kjor_en_gang

    dsn, server = _database_url(settings)
    try:
        besluttet, sendt, usendt = await kjor_en_gang(
            dsn,
            settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}",
            oversikt(settings),
            per,
            replikaer=settings.nats_replicas,
        )
        print(f"varsler {per.isoformat()}: {besluttet} decided, {sendt} published, {usendt} unsent", flush=True)
    finally:
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


def _stoppsignal() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _arbeider(settings: Settings, hvilken: str) -> None:
    """`forlop varsler kjor-arbeider` / `forlop planlegger`: one worker as a process of its own."""
    from workers.registry import oversikt
    from workers.scheduler import planlegger
    from workers.varsler import varselarbeider

    dsn, server = _database_url(settings)
    stop = _stoppsignal()
    try:
        if hvilken == "varsler":
            nats_url = settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"
            await varselarbeider(settings, dsn, nats_url, oversikt(settings)).kjor(stop)
        else:
            await planlegger(settings, dsn, oversikt(settings)).kjor(stop)
    finally:
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


def _api(settings: Settings, host: str) -> None:
    """`forlop api`: the API alone on uvicorn; uvicorn handles SIGINT/SIGTERM (graceful shutdown)."""
    from dataclasses import replace

    import uvicorn

    from api.app import create_app

    dsn, server = _database_url(settings)
    try:
        settings = replace(settings, database_url=dsn)
        uvicorn.run(
            create_app(settings),
            host=host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
    finally:
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


async def _relay(settings: Settings) -> None:
    from workers.registry import mapper
    from workers.relay import Relay

    dsn, server = _database_url(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        relay = Relay(
            dsn,
            settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}",
            settings.secret("pseudonym"),
            events_table=settings.events_table,
            replikaer=settings.nats_replicas,
            mapper=mapper(settings),
        )
        await relay.kjor(stop)
    finally:
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


async def _replay(settings: Settings, fra: int, til: int | None) -> None:
    from workers.registry import mapper
    from workers.relay import publiser_paa_nytt

    dsn, server = _database_url(settings)
    try:
        sendt, duplikater = await publiser_paa_nytt(
            dsn,
            settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}",
            settings.secret("pseudonym"),
            fra,
            til,
            events_table=settings.events_table,
            mapper=mapper(settings),
        )
        print(f"published {sendt} events again; the stream dropped {duplikater} as duplicates of known ids")
    finally:
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


def _les_ident(fil: Path | None) -> str:
    tekst = fil.read_text(encoding="utf-8") if fil is not None else sys.stdin.read()
    return tekst.strip()


async def _glem(settings: Settings, ident: str) -> int:
    """`forlop glem`: forget one person (store.service.Service.glem) and delete their view rows now.
    Prints the outcome without the identifier; 0 on success (a repeat included), 2 on a bad identifier."""
    import asyncpg

    from domain.common import SYSTEM_IDENT, Aktor, Kontekst
    from domain.errors import DomainError
    from domain.ident import Fodselsnummer
    from projections.runner import opprett
    from store.envelope import pseudonym
    from store.migrations import migrate
    from store.recorder import AsyncPostgresRecorder, create_pool
    from store.repository import EventStore
    from store.service import Service
    from workers.registry import oversikt

    if not settings.field_encryption:
        print("forlop glem needs field encryption (FORLOP_FIELD_ENCRYPTION is 0)", file=sys.stderr)
        return 2
    try:
        person = Fodselsnummer(ident)
    except DomainError:
        print("not a valid identifier (11 digits, mod-11)", file=sys.stderr)
        return 2
    dsn, server = _database_url(settings)
    try:
        pool = await create_pool(dsn, min_size=1, max_size=4)
        recorder = AsyncPostgresRecorder(pool, events_table=settings.events_table)
        try:
            await migrate(dsn)
            visninger = oversikt(settings)
            await opprett(pool, visninger)
            tjeneste = Service(
                EventStore(recorder, visninger.mapper, snapshot_every=settings.snapshot_interval),
                settings.regler,
                settings.secret("person"),
            )
            ktx = Kontekst(aktor=Aktor(SYSTEM_IDENT, None), correlation_id=uuid4())
            glemsel = await tjeneste.glem(person, ktx, pseudonym(settings.secret("pseudonym"), person))
            rader = await visninger.glem(pool, glemsel.person_id)
        except asyncpg.PostgresError as e:
            print(f"forlop glem failed: {type(e).__name__}", file=sys.stderr)
            return 1
        finally:
            await recorder.close()
            await pool.close()
        if glemsel.posisjon is None and not glemsel.nokkel_odelagt:
            print(f"person record {glemsel.person_id}: already forgotten; nothing more recorded", flush=True)
        else:
            print(
                f"person record {glemsel.person_id}: forgotten (key destroyed, tombstone at position "
                f"{glemsel.posisjon}, {rader} view rows deleted)",
                flush=True,
            )
        return 0
    finally:
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


async def _verify(settings: Settings, stream: UUID | None, sjekkpunkt: bool) -> int:
    """`forlop verify`: names every failing stream version and checkpoint on stdout; 1 if any, else 0."""
    import asyncpg

    from projections.rebuild import fremdriftslinje
    from store import verification

    dsn, server = _database_url(settings)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            nokkel = verification.signeringsnokkel(settings.secret("signing"))
            if sjekkpunkt:
                try:
                    sp = await verification.skriv_sjekkpunkt(conn, nokkel, events_table=settings.events_table)
                except verification.LogBroken as e:
                    print(f"checkpoint refused: {e}", flush=True)
                else:
                    print(f"checkpoint {sp.nr} signed at position {sp.posisjon} ({sp.antall} events)" if sp
                          else "checkpoint: no events since the last one", flush=True)
            svar = await verification.verifiser(
                conn, nokkel.public_key(), events_table=settings.events_table, stream=stream,
                fremdrift=fremdriftslinje(),
            )
        finally:
            await conn.close()
        for f in svar.lenkefeil:
            print(f"stream {f.aggregat_id} version {f.versjon} (position {f.posisjon}): {f.grunn}")
        for c in svar.sjekkpunktfeil:
            print(f"checkpoint {c.nr} (position {c.posisjon}): {', '.join(c.grunner)}")
        hva = f"{svar.hendelser} events in {svar.strommer} streams"
        if svar.omfang == "logg":
            hva += f" and {svar.sjekkpunkter} checkpoints"
        if svar.ok:
            print(f"verified {hva} up to position {svar.til_posisjon} in {svar.sekunder:.1f} s: OK", flush=True)
            return 0
        print(
            f"verified {hva} up to position {svar.til_posisjon} in {svar.sekunder:.1f} s: FAILED "
            f"({svar.antall_lenkefeil} events, {len(svar.sjekkpunktfeil)} checkpoints)",
            flush=True,
        )
        return 1
    finally:
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


async def _up(settings: Settings) -> None:
    from workers.stack import Stack

    stack = Stack(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stack.start()
    try:
        print(stack.ready_line(), flush=True)
        await stop.wait()
    finally:
        await stack.stop()
        print("forlop stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "token":
        from api.auth import lag_token

        settings = load_settings(args.config, data_dir=args.data_dir)
        print(lag_token(settings.secret("jwt"), ident=args.ident, roller=[args.rolle], enheter=args.enhet))
        return 0
    if args.command == "config":
        sys.stdout.write(defaults_toml())
        return 0
    if args.command == "tail":
        from workers.tail import tail

        url = args.nats_url or load_settings().nats_url or "nats://127.0.0.1:4222"
        asyncio.run(tail(url, args.subject, args.durable))
        return 0
    if args.command == "varsler":
        from api.observability import configure_logging

        if args.varsler_command == "kjor-arbeider":
            settings = load_settings(args.config, data_dir=args.data_dir, today=args.today)
            configure_logging(settings.log_level)
            asyncio.run(_arbeider(settings, "varsler"))
            return 0
        settings = load_settings(args.config, data_dir=args.data_dir)
        configure_logging(settings.log_level)
        asyncio.run(_varsler_kjor(settings, args.per))
        return 0
    if args.command in ("planlegger", "api"):
        from api.observability import configure_logging

        settings = load_settings(
            args.config, data_dir=args.data_dir, today=args.today, port=getattr(args, "port", None)
        )
        configure_logging(settings.log_level)
        if args.command == "api":
            _api(settings, args.host)
        else:
            asyncio.run(_arbeider(settings, "planlegger"))
        return 0
    if args.command == "relay":
        from api.observability import configure_logging

        settings = load_settings(args.config, data_dir=args.data_dir)
        configure_logging(settings.log_level)
        if args.relay_command == "replay":
            asyncio.run(_replay(settings, args.fra, args.til))
        else:
            asyncio.run(_relay(settings))
        return 0
    if args.command == "glem":
        settings = load_settings(args.config, data_dir=args.data_dir)
        return asyncio.run(_glem(settings, _les_ident(args.fil)))
    if args.command == "verify":
        settings = load_settings(args.config, data_dir=args.data_dir)
        return asyncio.run(_verify(settings, args.stream, args.checkpoint))
    if args.command == "seed":
        from api.observability import configure_logging

        settings = load_settings(args.config, data_dir=args.data_dir, today=args.today)
        configure_logging(settings.log_level)
        return asyncio.run(_seed(settings, args))
    if args.command == "replay":
        settings = load_settings(args.config, data_dir=args.data_dir)
        asyncio.run(_replay_kjent(settings, args.kjent_per))
        return 0
    if args.command in ("rebuild", "projeksjon"):
        from api.observability import configure_logging

        settings = load_settings(args.config, data_dir=args.data_dir)
        configure_logging(settings.log_level)
        if args.command == "rebuild":
            asyncio.run(_rebuild(settings, [args.view] if args.view else sorted(_projeksjoner()), args.arbeidere))
        else:
            asyncio.run(_runner(settings, args.view, args.batch))
        return 0
    if args.command == "up":
        from api.observability import configure_logging

        settings = load_settings(
            args.config, data_dir=args.data_dir, port=args.port, nats_port=args.nats_port, today=args.today
        )
        configure_logging(settings.log_level)
        asyncio.run(_up(settings))
        return 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
