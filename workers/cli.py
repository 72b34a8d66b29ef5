"""The `forlop` command (contract.md §1, README): `up` starts the whole stack on one machine; the other
commands run one part (`api`, `projeksjon`, `relay`, `varsler kjor-arbeider`, `planlegger`) or one task."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import click

from store.settings import Settings, SettingsError, config_toml, defaults_toml, load_settings
from workers.registry import PROJEKSJONER

F = TypeVar("F", bound=Callable[..., Any])


# --- option types and shared options ------------------------------------------------------------------------


class DateType(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"not a date (YYYY-MM-DD): {value}", param, ctx)


class InstantType(click.ParamType):
    name = "INSTANT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            instant = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"not an RFC 3339 instant: {value}", param, ctx)
        if instant.tzinfo is None:
            self.fail(f"the instant needs an offset (Z or +01:00): {value}", param, ctx)
        return instant


DATE = DateType()
INSTANT = InstantType()


def data_dir_option(f: F) -> F:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Data directory of the embedded PostgreSQL and NATS and the development keys "
        "(default: FORLOP_DATA_DIR, else ./.forlop).",
    )(f)


def config_option(f: F) -> F:
    return click.option(
        "--config",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="TOML file with the rule values of contract.md §1 (default: FORLOP_CONFIG, else the defaults).",
    )(f)


def today_option(f: F) -> F:
    return click.option(
        "--today", type=DATE, default=None, help="Pin the business date (default: today in Europe/Oslo)."
    )(f)


def nats_option(f: F) -> F:
    return click.option(
        "--nats-url", default=None,
        help="NATS server(s), comma-separated (default: NATS_URL, else nats://127.0.0.1:4222).",
    )(f)


def _settings(config: Path | None, data_dir: Path | None, **options: Any) -> Settings:
    try:
        return load_settings(config, data_dir=data_dir, **options)
    except SettingsError as e:
        raise click.BadParameter(str(e), param_hint="'--config' or the environment") from None


def _logging(settings: Settings) -> None:
    from api.observability import configure_logging

    configure_logging(settings.log_level)


def _run(main: Coroutine[Any, Any, int | None]) -> None:
    """Run `main` and exit with its code (0 for None)."""
    code = asyncio.run(main)
    if code:
        sys.exit(code)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _with_nats(settings: Settings, nats_url: str | None) -> Settings:
    """The settings with `--nats-url` over NATS_URL."""
    return replace(settings, nats_url=nats_url) if nats_url else settings


def _nats_url(settings: Settings) -> str:
    return settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"


def _database_url(settings: Settings) -> tuple[str, Any | None]:
    """DATABASE_URL, or the embedded server under the data directory (started if it is not running)."""
    if settings.database_url:
        return settings.database_url, None
    from store.embedded import start_postgres

    return start_postgres(settings.data_dir.resolve() / "pg")


async def _with_database(settings: Settings, work: Callable[[str], Coroutine[Any, Any, int | None]]) -> int | None:
    """Run `work(dsn)` against DATABASE_URL or the embedded server, which is stopped afterwards."""
    dsn, server = _database_url(settings)
    try:
        return await work(dsn)
    finally:
        if server is not None:
            server.cleanup()


# --- the command ---------------------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="forlop", prog_name="forlop")
def forlop() -> None:
    """Forløp: case lifecycles for NAV's labour-market measures and the youth guarantee."""


@forlop.command()
@data_dir_option
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="API port (default: FORLOP_PORT, else 8000).")
@click.option("--nats-port", type=click.IntRange(0, 65535), default=4222, show_default=True,
              help="Port of the embedded NATS server.")
@today_option
@config_option
def up(data_dir: Path | None, port: int | None, nats_port: int, today: date | None, config: Path | None) -> None:
    """Start the embedded database, NATS, the API and every worker; stop on SIGINT or SIGTERM."""
    settings = _settings(config, data_dir, port=port, nats_port=nats_port, today=today)
    _logging(settings)
    _run(_up(settings))


async def _up(settings: Settings) -> None:
    from workers.embedded_nats import PortInUse
    from workers.stack import Stack, StackRefused

    stack = Stack(settings)
    stop = _stop_on_signals()
    starting = asyncio.create_task(stack.start())  # a signal during the start stops what has started
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(BaseException):
            await starting
        stopping.cancel()
        print("forlop stopped", flush=True)
        return
    try:
        starting.result()
    except (StackRefused, PortInUse, TimeoutError, RuntimeError) as e:
        stopping.cancel()
        raise click.ClickException(f"forlop up: {e}") from None
    try:
        print(stack.ready_line(), flush=True)
        await stopping
    finally:
        await stack.stop()
        print("forlop stopped", flush=True)


@forlop.command()
@data_dir_option
@click.option("--rolle", required=True, type=click.Choice(["saksbehandler", "revisor", "system"]),
              help="The role the token carries.")
@click.option("--enhet", multiple=True, help="A NAV office the token may act for; repeat for several.")
@click.option("--ident", default="Z990001", show_default=True, help="The actor's NAV ident (the token's sub).")
@config_option
def token(data_dir: Path | None, rolle: str, enhet: tuple[str, ...], ident: str, config: Path | None) -> None:
    """Print a JWT the local instance accepts (signed with the development key under the data directory)."""
    from api.identity import make_token

    settings = _settings(config, data_dir)
    click.echo(make_token(settings.secret("jwt"), ident=ident, roller=[rolle], enheter=list(enhet)))


@forlop.command()
@click.option("--fodselsdato", type=DATE, default="1990-08-15", show_default=True,
              help="The birth date the number is for (the body's person.fodselsdato).")
@click.option("--antall", type=click.IntRange(1, 250), default=1, show_default=True,
              help="How many different persons born that day.")
@click.option("--nr", type=click.IntRange(min=0), default=None,
              help="Which of that day's numbers (the same --nr gives the same number); default: random.")
def testident(fodselsdato: date, antall: int, nr: int | None) -> None:
    """Print a synthetic fødselsnummer (month + 80, valid mod-11): a test person, never a real one."""
    import secrets

    from domain.ident import syntetisk_ident

    start = secrets.randbelow(1000) if nr is None else nr
    sett: list[str] = []
    for n in range(start, start + 1000):
        ident = syntetisk_ident(fodselsdato, n)
        if ident not in sett:
            sett.append(ident)
        if len(sett) == antall:
            break
    for ident in sett:
        click.echo(ident)


@forlop.command()
@data_dir_option
@config_option
def migrate(data_dir: Path | None, config: Path | None) -> None:
    """Apply the numbered SQL migrations that are not applied yet (idempotent, under a lock)."""
    settings = _settings(config, data_dir)
    _logging(settings)
    _run(_with_database(settings, _migrate))


async def _migrate(dsn: str) -> None:
    from store.migrations import migrate as apply_migrations

    applied = await apply_migrations(dsn)
    click.echo(f"applied {len(applied)} migrations: {', '.join(applied)}" if applied else "schema up to date")


@forlop.command()
@click.option("--view", type=click.Choice(sorted(PROJEKSJONER)), default=None, help="One view (default: all).")
@data_dir_option
@config_option
@click.option("--arbeidere", type=click.IntRange(min=1), default=None,
              help="Processes for the first pass (default: one per CPU and per 25,000 events, at most 4).")
def rebuild(view: str | None, data_dir: Path | None, config: Path | None, arbeidere: int | None) -> None:
    """Rebuild projections from the log into shadow tables and swap them in."""
    settings = _settings(config, data_dir)
    _logging(settings)
    views = [view] if view else sorted(PROJEKSJONER)
    _run(_with_database(settings, lambda dsn: _rebuild(settings, dsn, views, arbeidere)))


async def _rebuild(settings: Settings, dsn: str, views: list[str], arbeidere: int | None) -> None:
    from projections.rebuild import progress_line, rebuild_views

    for navn in views:
        click.echo(f"rebuilding {navn}", err=True)
        with _pass_errors(f"rebuild {navn}: nothing swapped in", after_progress=True):
            pos = await rebuild_views(
                dsn,
                PROJEKSJONER[navn](settings),
                events_table=settings.events_table,
                fremdrift=progress_line(),
                arbeidere=arbeidere,
            )
        click.echo(f"{navn}: rebuilt to position {pos} and swapped in")


@contextlib.contextmanager
def _pass_errors(what: str, *, after_progress: bool = False) -> Iterator[None]:
    """A pass that failed on a worker or on a stored row that does not decode: one line naming it (the
    failing worker's own log line says why), exit code 1, instead of a traceback. `after_progress`: on a
    line of its own after an unfinished progress bar."""
    from eventsourcing.persistence import MapperDeserialisationError

    from projections.rebuild import WorkerFailed

    try:
        yield
    except (WorkerFailed, MapperDeserialisationError) as e:
        if after_progress:
            click.echo(err=True)
        raise click.ClickException(f"{what}: {e}") from None


@forlop.command()
@click.option("--lop", type=click.IntRange(min=0), required=True, help="Number of løp (transitions included).")
@click.option("--garantier", type=click.IntRange(min=0), default=0, show_default=True,
              help="Number of youth guarantees.")
@click.option("--seed", "seed_value", type=int, default=1, show_default=True,
              help="The same seed gives the same data set.")
@click.option("--samtidige", type=click.IntRange(min=1), default=16, show_default=True,
              help="Concurrent writers (they share transactions: group commit).")
@click.option("--per-person", is_flag=True, help="Write each person's history in one burst.")
@click.option("--bulk", is_flag=True,
              help="The same events judged in memory and written with COPY (workers/seed_bulk.py); new people only.")
@today_option
@data_dir_option
@config_option
def seed(lop: int, garantier: int, seed_value: int, samtidige: int, per_person: bool, bulk: bool,
         today: date | None, data_dir: Path | None, config: Path | None) -> None:
    """Write a realistic synthetic caseload through the command service."""
    settings = _settings(config, data_dir, today=today)
    _logging(settings)
    _run(_with_database(
        settings, lambda dsn: _seed(settings, dsn, lop, garantier, seed_value, samtidige, per_person, bulk)
    ))


async def _seed(settings: Settings, dsn: str, lop: int, garantier: int, seed_value: int, samtidige: int,
                per_person: bool, bulk: bool = False) -> int:
    from store.service import business_date
    from workers.seed import progress_line, sammendrag, seed_database
    from workers.seed_bulk import (
        BulkRefused,
        bulk_sammendrag,
        running_scheduler,
        seed_bulk,
        standard_arbeidere,
    )

    if await running_scheduler(dsn):  # issue 17: its FYLT_30 runs would race the seed's own commands
        raise click.ClickException(
            "a scheduler (forlop up or forlop planlegger) is running against this database: it would end "
            "guarantees while the seed writes their follow-ups. Stop it, seed, then start it again."
        )
    if bulk:
        try:
            bres = await seed_bulk(
                dsn, settings.regler, settings.secret("person"), kryptert=settings.field_encryption, lop=lop,
                garantier=garantier, seed=seed_value, i_dag=business_date(settings.today), flettet=not per_person,
                snapshot_every=settings.snapshot_interval, arbeidere=standard_arbeidere(), fremdrift=progress_line(),
            )  # fmt: skip
        except BulkRefused as e:
            raise click.ClickException(str(e)) from None
        click.echo(bulk_sammendrag(bres))
        return 1 if bres.avvist else 0
    plan, res = await seed_database(
        dsn,
        settings.regler,
        settings.secret("person"),
        kryptert=settings.field_encryption,
        lop=lop,
        garantier=garantier,
        seed=seed_value,
        i_dag=business_date(settings.today),
        samtidige=samtidige,
        flettet=not per_person,
        events_table=settings.events_table,
        snapshot_every=settings.snapshot_interval,
        fremdrift=progress_line(),
    )
    click.echo(sammendrag(plan, res))
    return 1 if res.avvist else 0


@forlop.command()
@click.option("--kjent-per", required=True, type=INSTANT, help="RFC 3339 instant with an offset.")
@data_dir_option
@config_option
def replay(kjent_per: datetime, data_dir: Path | None, config: Path | None) -> None:
    """Rebuild every view as the system knew it at an instant, into a schema of its own."""
    settings = _settings(config, data_dir)
    _run(_with_database(settings, lambda dsn: _replay_as_known(settings, dsn, kjent_per)))


async def _replay_as_known(settings: Settings, dsn: str, kjent_per: datetime) -> None:
    from projections.as_known import spill_av

    projeksjoner = [lag(settings) for lag in PROJEKSJONER.values()]
    from workers.progress import Progress

    skjema, antall = await spill_av(dsn, projeksjoner, kjent_per, events_table=settings.events_table,
                                    progress=Progress("replay", "log positions"))
    click.echo(f"views as known at {kjent_per.isoformat()}: {antall} events into schema {skjema}")


@forlop.command()
@click.option("--view", type=click.Choice(sorted(PROJEKSJONER)), required=True, help="The view to keep.")
@data_dir_option
@config_option
@click.option("--batch", type=click.IntRange(min=1), default=500, show_default=True,
              help="Events per transaction.")
def projeksjon(view: str, data_dir: Path | None, config: Path | None, batch: int) -> None:
    """Run one projection's runner until stopped (a standby replica waits for the lock)."""
    settings = _settings(config, data_dir)
    _logging(settings)
    _run(_with_database(settings, lambda dsn: _projector(settings, dsn, view, batch)))


async def _projector(settings: Settings, dsn: str, view: str, batch: int) -> None:
    from workers.projector import Projector

    stop = _stop_on_signals()
    await Projector(dsn, PROJEKSJONER[view](settings), events_table=settings.events_table, batch=batch).run(stop)


@forlop.group(invoke_without_command=True)
@data_dir_option
@config_option
@click.option("--health-port", type=click.IntRange(min=1, max=65535), default=None,
              help="Serve /health/ready (503 while NATS is lost or a refused event waits) and /metrics on this port.")
@nats_option
@click.pass_context
def relay(
    ctx: click.Context, data_dir: Path | None, config: Path | None, health_port: int | None, nats_url: str | None
) -> None:
    """Run the event relay to NATS until stopped (a standby replica waits for the lock)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _with_nats(_settings(config, data_dir), nats_url)
    _logging(settings)
    _run(_with_database(settings, lambda dsn: _relay(settings, dsn, health_port)))


async def _relay(settings: Settings, dsn: str, health_port: int | None) -> None:
    from workers.health import serve_health
    from workers.registry import mapper
    from workers.relay import Relay

    stop = _stop_on_signals()
    relay = Relay(
        dsn,
        _nats_url(settings),
        settings.secret("pseudonym"),
        events_table=settings.events_table,
        replicas=settings.nats_replicas,
        mapper=mapper(settings),
    )
    if health_port is None:
        await relay.run(stop)
    else:
        await asyncio.gather(relay.run(stop), serve_health(relay.readiness, health_port, stop))


@relay.command("replay")
@click.option("--fra", type=click.IntRange(min=1), required=True, help="First position (inclusive).")
@click.option("--til", type=click.IntRange(min=1), default=None, help="Last position (inclusive; default: the end).")
@data_dir_option
@config_option
@nats_option
@click.pass_context
def relay_replay(ctx: click.Context, fra: int, til: int | None, data_dir: Path | None, config: Path | None,
                 nats_url: str | None) -> None:
    """Publish a range of the log again, with the same Msg-Ids (progress on stderr)."""
    parent = ctx.parent.params if ctx.parent is not None else {}
    settings = _settings(config or parent.get("config"), data_dir or parent.get("data_dir"))
    settings = _with_nats(settings, nats_url or parent.get("nats_url"))
    _logging(settings)
    _run(_with_database(settings, lambda dsn: _relay_replay(settings, dsn, fra, til)))


async def _relay_replay(settings: Settings, dsn: str, fra: int, til: int | None) -> None:
    from workers.progress import Progress
    from workers.registry import mapper
    from workers.relay import replay_range

    sendt, duplikater = await replay_range(
        dsn,
        _nats_url(settings),
        settings.secret("pseudonym"),
        fra,
        til,
        events_table=settings.events_table,
        mapper=mapper(settings),
        progress=Progress("relay replay"),
    )
    click.echo(f"published {sendt} events again; the stream dropped {duplikater} as duplicates of known ids")


def _relay_settings(ctx: click.Context, data_dir: Path | None, config: Path | None) -> Settings:
    parent = ctx.parent.params if ctx.parent is not None else {}
    return _settings(config or parent.get("config"), data_dir or parent.get("data_dir"))


@relay.command("venter")
@data_dir_option
@config_option
@click.pass_context
def relay_venter(ctx: click.Context, data_dir: Path | None, config: Path | None) -> None:
    """List the events NATS refused and those held behind them (docs/operations.md)."""
    settings = _relay_settings(ctx, data_dir, config)
    _run(_with_database(settings, _relay_venter))


async def _relay_venter(dsn: str) -> None:
    from workers.relay import waiting_events

    rows = await waiting_events(dsn)
    for r in rows:  # positions, ids and types only: no personal data
        what = f"REFUSED: {r.grunn}" if r.grunn else "held behind a refused event of its aggregate"
        click.echo(f"{r.posisjon}\t{r.aggregat_id}\t{r.type}\t{r.storrelse} bytes\t{what}")
    click.echo(f"{len(rows)} events wait", err=True)


@relay.command("hopp-over")
@click.option("--posisjon", type=click.IntRange(min=1), required=True, help="The refused event's position.")
@data_dir_option
@config_option
@click.pass_context
def relay_hopp_over(ctx: click.Context, posisjon: int, data_dir: Path | None, config: Path | None) -> None:
    """Give up publishing a refused event; the events held behind it then go out (docs/operations.md)."""
    settings = _relay_settings(ctx, data_dir, config)
    _run(_with_database(settings, lambda dsn: _relay_hopp_over(dsn, posisjon)))


async def _relay_hopp_over(dsn: str, posisjon: int) -> int:
    from workers.relay import skip_refused

    if await skip_refused(dsn, posisjon):
        click.echo(f"position {posisjon}: skipped; the relay publishes what waits behind it at its next try")
        return 0
    click.echo(f"position {posisjon}: no refused event waits there (forlop relay venter lists them)", err=True)
    return 1


@forlop.group()
def varsler() -> None:
    """The deadline-alert worker."""


@varsler.command("kjor")
@click.option("--per", type=DATE, required=True, help="The business date (YYYY-MM-DD).")
@data_dir_option
@config_option
@nats_option
@click.option("--arbeidere", type=click.IntRange(min=1), default=None,
              help="Processes that decode and evaluate the pass (default: one per CPU and per 20,000 rows of "
                   "the views, at most 4).")  # fmt: skip
def varsler_kjor(
    per: date, data_dir: Path | None, config: Path | None, nats_url: str | None, arbeidere: int | None
) -> None:
    """Decide the alerts open on a business date once and send them."""
    settings = _with_nats(_settings(config, data_dir), nats_url)
    _logging(settings)
    _run(_with_database(settings, lambda dsn: _varsler_once(settings, dsn, per, arbeidere)))


async def _varsler_once(settings: Settings, dsn: str, per: date, arbeidere: int | None) -> None:
    from workers.registry import oversikt
    from workers.varsler import run_once

    with _pass_errors(f"varsler {per.isoformat()}: nothing decided"):
        besluttet, sendt, usendt = await run_once(
            dsn, _nats_url(settings), oversikt(settings), per, replicas=settings.nats_replicas, arbeidere=arbeidere
        )
    click.echo(f"varsler {per.isoformat()}: {besluttet} decided, {sendt} published, {usendt} unsent")


@varsler.command("kjor-arbeider")
@today_option
@data_dir_option
@config_option
@nats_option
def varsler_worker(today: date | None, data_dir: Path | None, config: Path | None, nats_url: str | None) -> None:
    """Run the alert worker until stopped (a standby replica waits for the lock)."""
    settings = _with_nats(_settings(config, data_dir, today=today), nats_url)
    _logging(settings)
    _run(_with_database(settings, lambda dsn: _varsler_worker(settings, dsn)))


async def _varsler_worker(settings: Settings, dsn: str) -> None:
    from workers.registry import oversikt
    from workers.varsler import varsel_worker

    stop = _stop_on_signals()
    await varsel_worker(settings, dsn, _nats_url(settings), oversikt(settings)).run(stop)


@forlop.command()
@today_option
@data_dir_option
@config_option
def planlegger(today: date | None, data_dir: Path | None, config: Path | None) -> None:
    """Run the scheduler of automatic commands (FYLT_30) until stopped (a standby replica waits)."""
    settings = _settings(config, data_dir, today=today)
    _logging(settings)
    _run(_with_database(settings, lambda dsn: _scheduler(settings, dsn)))


async def _scheduler(settings: Settings, dsn: str) -> None:
    from workers.registry import oversikt
    from workers.scheduler import scheduler

    stop = _stop_on_signals()
    await scheduler(settings, dsn, oversikt(settings)).run(stop)


@forlop.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address (0.0.0.0 in a container).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default: FORLOP_PORT, else 8000).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Server worker processes (one per core); 1 serves in this process.")
@today_option
@data_dir_option
@config_option
def api(host: str, port: int | None, workers: int, today: date | None, data_dir: Path | None,
        config: Path | None) -> None:
    """Serve only the HTTP API (stateless: run as many as you like)."""
    settings = _settings(config, data_dir, port=port, today=today)
    _logging(settings)
    dsn, server = _database_url(settings)
    try:
        _serve(replace(settings, database_url=dsn, data_dir=settings.data_dir.resolve()), host, workers)
    finally:
        if server is not None:
            server.cleanup()


def _serve(settings: Settings, host: str, workers: int) -> None:
    """uvicorn handles SIGINT/SIGTERM (graceful shutdown). Several workers each build the app with
    api.asgi's factory from the environment, into which these settings are handed on."""
    import os

    import uvicorn

    from workers.stack import server_options

    options: dict[str, Any] = {"host": host, "port": settings.port, "log_config": None, "access_log": False,
                               "lifespan": "on", "timeout_graceful_shutdown": 10,
                               **server_options(settings, processes=workers > 1)}
    if workers == 1:
        from api.app import create_app, freeze_startup_objects

        app = create_app(settings)
        freeze_startup_objects()
        uvicorn.run(app, **options)
        return
    os.environ.update(settings.command_environment())
    uvicorn.run("api.asgi:create_app_from_env", factory=True, workers=workers, **options)


@forlop.command()
@click.option("--fil", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A file holding the identifier (default: standard input).")
@data_dir_option
@config_option
def glem(fil: Path | None, data_dir: Path | None, config: Path | None) -> None:
    """Forget a person (GDPR erasure): destroy the key of their personal fields. The identifier is read
    from standard input or --fil, never from the command line."""
    settings = _settings(config, data_dir)
    ident = read_identifier(fil)
    _run(forget_person(settings, ident))


def read_identifier(fil: Path | None) -> str:
    tekst = fil.read_text(encoding="utf-8") if fil is not None else sys.stdin.read()
    return tekst.strip()


async def forget_person(settings: Settings, ident: str) -> int:
    """`forlop glem`: forget one person (store.service.Service.glem) and delete their view rows now.
    Prints the outcome without the identifier; 0 on success (a repeat included), 2 on a bad identifier."""
    from domain.errors import DomainError
    from domain.ident import Fodselsnummer

    if not settings.field_encryption:
        click.echo("forlop glem needs field encryption (FORLOP_FIELD_ENCRYPTION is 0)", err=True)
        return 2
    try:
        person = Fodselsnummer(ident)
    except DomainError:
        click.echo("not a valid identifier (11 digits, mod-11)", err=True)
        return 2
    return await _with_database(settings, lambda dsn: _forget(settings, dsn, person)) or 0


async def _forget(settings: Settings, dsn: str, person: Any) -> int:
    import asyncpg

    from domain.common import SYSTEM_IDENT, Aktor, Kontekst
    from projections.runner import opprett
    from store.envelope import pseudonym
    from store.migrations import migrate as apply_migrations
    from store.recorder import AsyncPostgresRecorder, create_pool
    from store.repository import EventStore
    from store.service import Service
    from workers.registry import oversikt

    pool = await create_pool(dsn, min_size=1, max_size=4)
    recorder = AsyncPostgresRecorder(pool, events_table=settings.events_table)
    try:
        await apply_migrations(dsn)
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
        click.echo(f"forlop glem failed: {type(e).__name__}", err=True)
        return 1
    finally:
        await recorder.close()
        await pool.close()
    if glemsel.posisjon is None and not glemsel.nokkel_odelagt:
        click.echo(f"person record {glemsel.person_id}: already forgotten; nothing more recorded")
    else:
        click.echo(
            f"person record {glemsel.person_id}: forgotten (key destroyed, tombstone at position "
            f"{glemsel.posisjon}, {rader} view rows deleted)"
        )
    return 0


@forlop.command()
@click.option("--stream", type=click.UUID, default=None, help="One stream (aggregate id) only; no checkpoints.")
@click.option("--checkpoint", is_flag=True, help="First sign a checkpoint of the events since the last one.")
@data_dir_option
@config_option
def verify(stream: UUID | None, checkpoint: bool, data_dir: Path | None, config: Path | None) -> None:
    """Check every stream's hash chain and every signed checkpoint; exit 1 if anything fails."""
    settings = _settings(config, data_dir)
    _run(_with_database(settings, lambda dsn: _verify(settings, dsn, stream, checkpoint)))


async def _verify(settings: Settings, dsn: str, stream: UUID | None, sjekkpunkt: bool) -> int:
    """Names every failing stream version and checkpoint on stdout; 1 if any, else 0."""
    import asyncpg

    from projections.rebuild import progress_line
    from store import verification

    conn = await asyncpg.connect(dsn)
    try:
        nokkel = verification.signing_key_from(settings.secret("signing"))
        if sjekkpunkt:
            try:
                sp = await verification.write_checkpoint(conn, nokkel, events_table=settings.events_table)
            except verification.LogBroken as e:
                click.echo(f"checkpoint refused: {e}")
            else:
                click.echo(f"checkpoint {sp.nr} signed at position {sp.posisjon} ({sp.antall} events)" if sp
                           else "checkpoint: no events since the last one")
        svar = await verification.verify_log(
            conn, nokkel.public_key(), events_table=settings.events_table, stream=stream,
            fremdrift=progress_line(),
        )
    finally:
        await conn.close()
    for f in svar.lenkefeil:
        click.echo(f"stream {f.aggregat_id} version {f.versjon} (position {f.posisjon}): {f.grunn}")
    for c in svar.sjekkpunktfeil:
        click.echo(f"checkpoint {c.nr} (position {c.posisjon}): {', '.join(c.grunner)}")
    hva = f"{svar.hendelser} events in {svar.strommer} streams"
    if svar.omfang == "logg":
        hva += f" and {svar.sjekkpunkter} checkpoints"
    if svar.ok:
        click.echo(f"verified {hva} up to position {svar.til_posisjon} in {svar.sekunder:.1f} s: OK")
        return 0
    click.echo(
        f"verified {hva} up to position {svar.til_posisjon} in {svar.sekunder:.1f} s: FAILED "
        f"({svar.antall_lenkefeil} events, {len(svar.sjekkpunktfeil)} checkpoints)"
    )
    return 1


@forlop.command()
@click.option("--subject", default="forlop.hendelse.>", show_default=True, help="The subjects to print.")
@click.option("--resume", is_flag=True,
              help="A durable consumer named from the subject: a restart with the same --subject resumes.")
@click.option("--durable", default=None,
              help="A durable consumer of this name (refused if it follows another subject); default: ephemeral.")
@nats_option
def tail(subject: str, resume: bool, durable: str | None, nats_url: str | None) -> None:
    """Print events from NATS as a JetStream consumer sees them (from the start of the stream)."""
    from workers.tail import TailRefused, durable_for
    from workers.tail import tail as follow

    if resume and durable is not None:
        raise click.UsageError("give --resume or --durable, not both")
    url = nats_url or _settings(None, None).nats_url or "nats://127.0.0.1:4222"
    try:
        asyncio.run(follow(url, subject, durable_for(subject) if resume else durable))
    except TailRefused as e:
        raise click.ClickException(str(e)) from None


@forlop.command()
@click.option("--defaults", is_flag=True, help="Print the default configuration (TOML) and nothing else.")
@config_option
def config(defaults: bool, config: Path | None) -> None:
    """Print the configuration: the defaults, or what a --config file sets (checked as at start-up)."""
    if defaults or config is None:
        click.echo(defaults_toml(), nl=False)
        return
    click.echo(config_toml(_settings(config, None).regler), nl=False)


def resolve(argv: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The commands `forlop ARGV` would run, with their parsed options, without running anything (the
    deployment files' commands are checked with it). Raises click.UsageError on a bad command line."""
    command: click.Command = forlop
    ctx: click.Context | None = None
    args = list(argv)
    chain: list[tuple[str, dict[str, Any]]] = []
    while True:
        ctx = click.Context(command, info_name=command.name, parent=ctx)
        rest = click.Command.parse_args(command, ctx, args)
        chain.append((command.name or "", dict(ctx.params)))
        if not isinstance(command, click.Group) or not rest:
            if rest:
                raise click.UsageError(f"unexpected arguments: {rest}", ctx)
            return chain
        name, sub, args = command.resolve_command(ctx, rest)
        if sub is None:
            raise click.UsageError(f"no such command: {name}", ctx)
        command = sub


def main(argv: list[str] | None = None) -> None:
    forlop.main(args=argv, prog_name="forlop")


if __name__ == "__main__":
    main()
