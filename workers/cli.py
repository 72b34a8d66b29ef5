"""The `forlop` command: `up` starts the whole stack on one machine; `config --defaults` prints defaults."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import date
from pathlib import Path

from store.settings import Settings, defaults_toml, load_settings


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="forlop", description="Forløp: case lifecycles for NAV measures")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the embedded database, NATS and every worker that exists")
    up.add_argument("--data-dir", type=Path, default=Path(".forlop"))
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--nats-port", type=int, default=4222)
    up.add_argument("--today", type=_parse_date, default=None)
    up.add_argument("--config", type=Path, default=None)

    token = sub.add_parser("token", help="print a JWT the local instance accepts")
    token.add_argument("--data-dir", type=Path, default=Path(".forlop"))
    token.add_argument("--rolle", required=True, choices=["saksbehandler", "revisor", "system"])
    token.add_argument("--enhet", action="append", default=[], help="a NAV office; repeat for several")
    token.add_argument("--ident", default="Z990001", help="the actor's NAV ident (the token's sub)")
    token.add_argument("--config", type=Path, default=None)

    config = sub.add_parser("config", help="show configuration")
    config.add_argument("--defaults", action="store_true", help="print the default configuration (TOML)")
    return parser


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
