"""An example subscriber of Forløp's events (docs/subscribers.md), for integrators to copy.

It uses only nats-py, the Python standard library and the published JSON Schemas in docs/schemas:

- a durable JetStream pull consumer on `forlop.hendelse.>` with explicit acks (it resumes where it stopped);
- every envelope is checked against the schema of its subject before it is applied;
- per aggregate it keeps the last applied `versjon` and that event's `posisjon` (in a JSON file here; in a
  real system in the same transaction as the effect):
  `versjon` at or below the last one is a duplicate (acked and skipped, whatever the `Nats-Msg-Id` says);
  the next one is applied; one further ahead reveals a gap, which is filled from `GET /api/v1/hendelser`
  (paging from the last applied `posisjon` until past the message that revealed it) before going on;
- it acks a message only after its effect is applied.

Run it against `forlop up`:

    python examples/subscriber.py --nats-url nats://127.0.0.1:4222 --api-url http://127.0.0.1:8000 \\
        --token "$(forlop token --rolle system)" --durable eksempel --state eksempel-tilstand.json

Each applied event is printed as one JSON line. A token of role SYSTEM or REVISOR may read /hendelser.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"
STREAM, SUBJECT = "FORLOP_HENDELSER", "forlop.hendelse.>"
TYPES: dict[str, type | tuple[type, ...]] = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict, "array": list}


class SchemaError(ValueError):
    pass


class Schemas:
    """The published schemas (one file per subject), and a check of the subset of JSON Schema they use."""

    def __init__(self, directory: Path = SCHEMAS) -> None:
        self.by_subject = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in directory.glob("*.json")}

    def check(self, subject: str, value: Any) -> None:
        schema = self.by_subject.get(subject)
        if schema is None:
            raise SchemaError(f"no published schema for {subject}")
        self._check(schema, value, schema, "$")

    @staticmethod
    def _check_value(schema: dict[str, Any], value: Any, at: str) -> None:
        if "enum" in schema and value not in schema["enum"]:
            raise SchemaError(f"{at}: {value!r} is not one of {schema['enum']}")
        kind = schema.get("type")
        if kind == "null":
            if value is not None:
                raise SchemaError(f"{at}: not null")
        elif kind is not None and (not isinstance(value, TYPES[kind]) or (kind != "boolean" and isinstance(value, bool))):
            raise SchemaError(f"{at}: not {kind}")
        if "minimum" in schema and isinstance(value, int | float) and value < schema["minimum"]:
            raise SchemaError(f"{at}: below {schema['minimum']}")
        if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
            raise SchemaError(f"{at}: does not match {schema['pattern']}")

    def _check(self, schema: dict[str, Any], value: Any, root: dict[str, Any], at: str) -> None:
        if "$ref" in schema:
            name = schema["$ref"].removeprefix("#/$defs/")
            self._check(root["$defs"][name], value, root, at)
        if "anyOf" in schema:
            for option in schema["anyOf"]:
                try:
                    self._check(option, value, root, at)
                    break
                except SchemaError:
                    continue
            else:
                raise SchemaError(f"{at}: matches none of its alternatives")
        self._check_value(schema, value, at)
        if isinstance(value, dict):
            for name in schema.get("required", ()):
                if name not in value:
                    raise SchemaError(f"{at}.{name}: missing")
            for name, sub in schema.get("properties", {}).items():
                if name in value:
                    self._check(sub, value[name], root, f"{at}.{name}")


def subject_of(envelope: dict[str, Any]) -> str:
    return f"forlop.hendelse.{envelope['aggregat']}.{envelope['type']}"


@dataclass
class State:
    """Per aggregate: the last applied `versjon` and its `posisjon`. Kept in a JSON file after every change."""

    path: Path | None = None
    aggregates: dict[str, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> State:
        if path is not None and path.exists():
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(path, {k: (v[0], v[1]) for k, v in raw.items()})
        return cls(path)

    def save(self) -> None:
        if self.path is not None:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.aggregates), encoding="utf-8")
            tmp.replace(self.path)


@dataclass
class Counts:
    applied: int = 0
    duplicates: int = 0
    gaps: int = 0
    caught_up: int = 0


Apply = Callable[[dict[str, Any]], Awaitable[None]]


class Subscriber:
    def __init__(self, *, api_url: str, token: str, apply: Apply, state: State | None = None,
                 schemas: Schemas | None = None, page: int = 500) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.apply = apply
        self.state = state or State()
        self.schemas = schemas or Schemas()
        self.page = page
        self.counts = Counts()

    def _last(self, aggregat_id: str) -> int:
        return self.state.aggregates.get(aggregat_id, (0, 0))[0]

    async def _apply(self, envelope: dict[str, Any]) -> None:
        await self.apply(envelope)
        self.state.aggregates[envelope["aggregat_id"]] = (envelope["versjon"], envelope["posisjon"])
        self.state.save()
        self.counts.applied += 1

    async def handle(self, envelope: dict[str, Any]) -> None:
        """One envelope from the stream: skip a duplicate, fill a gap first, apply it."""
        if envelope.get("aggregat") == "person":  # the erasure tombstone: no versjon (docs/subscribers.md §5)
            self.schemas.check(subject_of(envelope), envelope)
            await self.apply(envelope)
            return
        self.schemas.check(subject_of(envelope), envelope)
        last = self._last(envelope["aggregat_id"])
        if envelope["versjon"] <= last:
            self.counts.duplicates += 1
            return
        if envelope["versjon"] > last + 1:
            self.counts.gaps += 1
            await self.catch_up(envelope["aggregat_id"], envelope["posisjon"])
            if envelope["versjon"] <= self._last(envelope["aggregat_id"]):
                self.counts.duplicates += 1
                return
            if envelope["versjon"] != self._last(envelope["aggregat_id"]) + 1:
                raise RuntimeError(f"{envelope['aggregat_id']}: versions missing even from /hendelser")
        await self._apply(envelope)

    async def catch_up(self, aggregat_id: str, until: int) -> None:
        """Apply `aggregat_id`'s missing events from `GET /hendelser`, paging until past position `until`."""
        etter = self.state.aggregates.get(aggregat_id, (0, 0))[1]
        while etter < until:
            answer = await asyncio.to_thread(self._get_page, etter)
            for envelope in answer["elementer"]:
                if envelope["posisjon"] >= until:
                    return
                if envelope["aggregat_id"] == aggregat_id and envelope["versjon"] == self._last(aggregat_id) + 1:
                    self.schemas.check(subject_of(envelope), envelope)
                    await self._apply(envelope)
                    self.counts.caught_up += 1
            if not answer["elementer"] or answer["neste"] <= etter:
                return
            etter = answer["neste"]

    def _get_page(self, etter: int) -> dict[str, Any]:
        query = urllib.parse.urlencode({"etter": etter, "antall": self.page})
        request = urllib.request.Request(f"{self.api_url}/api/v1/hendelser?{query}",
                                         headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)

    async def run(self, nats_url: str, durable: str, *, stop: asyncio.Event | None = None,
                  idle_rounds: int | None = None) -> Counts:
        """Consume until `stop` is set (or after `idle_rounds` empty fetches in a row, for tests and batch runs)."""
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe(
                SUBJECT, durable=durable, stream=STREAM,
                config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL),
            )
            idle = 0
            while not (stop is not None and stop.is_set()):
                try:
                    messages = await sub.fetch(100, timeout=1)
                except NatsTimeout:
                    idle += 1
                    if idle_rounds is not None and idle >= idle_rounds:
                        break
                    continue
                idle = 0
                for msg in messages:
                    await self.handle(json.loads(msg.data))
                    await msg.ack()
        finally:
            await nc.close()
        return self.counts


async def _print(envelope: dict[str, Any]) -> None:
    print(json.dumps(envelope, ensure_ascii=False), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--api-url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="a bearer token of role SYSTEM or REVISOR")
    parser.add_argument("--durable", default="eksempel")
    parser.add_argument("--state", type=Path, default=Path("eksempel-tilstand.json"))
    args = parser.parse_args()
    subscriber = Subscriber(api_url=args.api_url, token=args.token, apply=_print, state=State.load(args.state))
    asyncio.run(subscriber.run(args.nats_url, args.durable))


if __name__ == "__main__":
    main()
