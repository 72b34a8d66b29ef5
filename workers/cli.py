"""The `forlop` command: `up` starts the whole stack on one machine; `config --defaults` prints defaults."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import date
from pathlib import Path

from store.settings import Settings, defaults_toml, load_settings

log = logging.getLogger("forlop")


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
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    if args.command == "config":
        sys.stdout.write(defaults_toml())
        return 0
    if args.command == "up":
        settings = load_settings(
            args.config, data_dir=args.data_dir, port=args.port, nats_port=args.nats_port, today=args.today
        )
        asyncio.run(_up(settings))
        return 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
