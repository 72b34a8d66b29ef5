"""`make docs` (`python -m workers.schemas`): the JSON Schema of every message on NATS and an AsyncAPI document,
generated from the code so that they cannot drift from what the relay and the alert worker send.

- One schema per published event type: the envelope (`store.envelope.Envelope`) with `aggregat` and `type`
  fixed to the event's, and `data` built from the event class's dataclass fields exactly as
  `store.envelope.make_envelope` builds it (the metadata and the person's fields left out, `person_pseudonym`
  added where the event carries `person`). The event classes are every `Aggregate.Event` subclass defined in
  `Tiltakslop` and `Ungdomsgaranti` (eventsourcing's generic `Event` / `Created` excepted).
- The erasure tombstone `forlop.hendelse.person.PersonGlemt` (`data: {"person_pseudonym"}`, contract.md §3).
- The alert payload `workers.varsler.VarselMelding` (every `forlop.varsel.<TYPE>`).

Output, under docs/: `schemas/<subject>.json` (one self-contained JSON Schema 2020-12 per message) and
`asyncapi.json` (AsyncAPI 2.6: both streams' channels, the `Nats-Msg-Id` header, payloads). Written with
sorted keys, so a run on unchanged code writes identical bytes; `--check` exits 1 when the files on disk
differ from freshly generated ones (tests/integration/test_skjema.py asserts the same).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from eventsourcing.domain import Aggregate

from domain.ident import Fodselsnummer
from domain.tiltakslop import Tiltakslop
from domain.ungdomsgaranti import Ungdomsgaranti
from store.envelope import METADATA, PERSONLIG, Envelope
from workers.nats_setup import HENDELSE_SUBJECT, HENDELSER, VARSEL_SUBJECT, VARSLER
from workers.varsler import VARSELTYPER, VarselMelding

DOCS = Path(__file__).resolve().parents[1] / "docs"
SKJEMA_MAPPE = "schemas"
ASYNCAPI_FIL = "asyncapi.json"
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"

# The aggregates whose events are published, by their name on the wire (store.envelope.AGGREGATER).
AGGREGATER: tuple[tuple[str, type[Aggregate]], ...] = (
    ("tiltakslop", Tiltakslop),
    ("ungdomsgaranti", Ungdomsgaranti),
)
PSEUDONYM = Annotated[
    str,
    msgspec.Meta(
        pattern="^[0-9a-f]{64}$",
        description="The person: lowercase hex HMAC-SHA256 of the identifier under a key NAV holds. Stable per "
        "person across events and aggregates; not reversible without the key. The identifier and the birth "
        "date are never sent.",
    ),
]
POSISJON = Annotated[
    int, msgspec.Meta(ge=1, description="The event's position in the global log (gaps allowed).")
]
VERSJON = Annotated[
    int,
    msgspec.Meta(ge=1, description="The aggregate's version after this event: 1, 2, 3, ... per aggregat_id."),
]
_BESKRIVELSER: dict[str, str] = {
    "id": "The event's id (UUIDv5 of aggregat_id and versjon); the Nats-Msg-Id header. Deduplicate by it.",
    "aggregat_id": "The aggregate (løp or guarantee) the event belongs to.",
    "registrert": "When the event was recorded (UTC).",
    "aktor": 'Who caused it: NAV ident and office; {"nav_ident": "SYSTEM", "enhet": null} for automatic commands.',
    "correlation_id": "Shared by the events of one request (e.g. both løp of a transition).",
}
TOMBSTONE = "PersonGlemt"
TOMBSTONE_AGGREGAT = "person"


@dataclass(frozen=True, slots=True)
class Melding:
    """One kind of message on NATS and its generated payload type."""

    navn: str  # the component name in AsyncAPI (the event type, or VarselMelding)
    strom: str
    subject: str  # the concrete subject, or the pattern `forlop.varsel.{type}`
    payload: type[msgspec.Struct]
    beskrivelse: str

    @property
    def fil(self) -> str:
        return f"{SKJEMA_MAPPE}/{self.subject.replace('.{type}', '')}.json"


def event_classes() -> list[tuple[str, type[Aggregate.Event]]]:
    """(aggregat, event class) of every published event type, in definition order."""
    ut: list[tuple[str, type[Aggregate.Event]]] = []
    for aggregat, klasse in AGGREGATER:
        for navn, verdi in vars(klasse).items():
            if (
                isinstance(verdi, type)
                and issubclass(verdi, Aggregate.Event)
                and not hasattr(Aggregate, navn)  # eventsourcing's generic Event / Created, never triggered
            ):
                ut.append((aggregat, verdi))
    return ut


def data_felter(klasse: type[Aggregate.Event]) -> list[tuple[str, Any]]:
    """The `data` fields of an event on the wire, in the order make_envelope() emits them."""
    typer = typing.get_type_hints(klasse)
    felter = [
        (f.name, typer[f.name])
        for f in dataclasses.fields(klasse)  # type: ignore[arg-type]
        if f.name not in METADATA and f.name not in PERSONLIG
    ]
    if typer.get("person") is Fodselsnummer:
        felter.append(("person_pseudonym", PSEUDONYM))
    return felter


def _konvolutt(
    navn: str, aggregat: str, data: type[msgspec.Struct], skjema_versjon: int, beskrivelse: str
) -> type[msgspec.Struct]:
    """Envelope's fields in Envelope's order, with aggregat, type, skjema_versjon and data made exact."""
    typer = typing.get_type_hints(Envelope, include_extras=True)
    egne: dict[str, Any] = {
        "posisjon": POSISJON,
        "versjon": VERSJON,
        "aggregat": Literal[aggregat],  # type: ignore[valid-type]
        "type": Literal[navn],  # type: ignore[valid-type]
        "skjema_versjon": Annotated[
            Literal[skjema_versjon],  # type: ignore[valid-type]
            msgspec.Meta(description="The event class's version; a new version means a changed data schema."),
        ],
        "registrert": Annotated[datetime, msgspec.Meta(tz=True)],  # an aware instant: RFC 3339 date-time
        "data": data,
    }
    felter = []
    for felt in Envelope.__struct_fields__:
        typ = egne.get(felt, typer[felt])
        if felt in _BESKRIVELSER:
            typ = Annotated[typ, msgspec.Meta(description=_BESKRIVELSER[felt])]
        felter.append((felt, typ))
    return msgspec.defstruct(navn, felter, kw_only=True, namespace={"__doc__": beskrivelse}, module=__name__)


def meldinger() -> list[Melding]:
    """Every message of both streams: each event type, the erasure tombstone, the alert."""
    ut = []
    for aggregat, klasse in event_classes():
        navn = klasse.__name__
        subject = f"{HENDELSE_SUBJECT}.{aggregat}.{navn}"
        data = msgspec.defstruct(
            f"{navn}Data",
            data_felter(klasse),
            kw_only=True,
            namespace={
                "__doc__": f"The data of {navn} ({aggregat}): the event's fields, without the person."
            },
            module=__name__,
        )
        beskrivelse = f"`{subject}`: one stored {navn} event of a {aggregat} aggregate."
        payload = _konvolutt(navn, aggregat, data, getattr(klasse, "class_version", 1), beskrivelse)
        ut.append(Melding(navn, HENDELSER, subject, payload, beskrivelse))
    subject = f"{HENDELSE_SUBJECT}.{TOMBSTONE_AGGREGAT}.{TOMBSTONE}"
    data = msgspec.defstruct(
        f"{TOMBSTONE}Data",
        [("person_pseudonym", PSEUDONYM)],
        kw_only=True,
        namespace={"__doc__": "The erased person's pseudonym."},
        module=__name__,
    )
    beskrivelse = (
        f"`{subject}`: a person's data was erased. Delete or anonymise everything kept under this "
        "person_pseudonym; later events will not carry it."
    )
    ut.append(
        Melding(
            TOMBSTONE,
            HENDELSER,
            subject,
            _konvolutt(TOMBSTONE, TOMBSTONE_AGGREGAT, data, 1, beskrivelse),
            beskrivelse,
        )
    )
    ut.append(
        Melding(
            VarselMelding.__name__,
            VARSLER,
            f"{VARSEL_SUBJECT}.{{type}}",
            VarselMelding,
            "`forlop.varsel.<TYPE>`: one deadline alert (rules.md §8.5, §5.3), sent once; `varsel_id` is the "
            "UUIDv5 of (type, aggregat_id, frist) and the Nats-Msg-Id; `forsinket` is true when it reached "
            "NATS, or was decided, after its fire date `per`.",
        )
    )
    return ut


def _json(verdi: Any) -> str:
    return json.dumps(verdi, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def json_schema(melding: Melding) -> dict[str, Any]:
    """The self-contained JSON Schema (2020-12) of one message's payload."""
    skjema = msgspec.json.schema(melding.payload)
    return {
        "$schema": JSON_SCHEMA,
        "title": melding.navn,
        "description": melding.beskrivelse + " Generated from the code by `make docs`; do not edit.",
        **skjema,
    }


_HEADERS = {
    "type": "object",
    "properties": {
        "Nats-Msg-Id": {
            "type": "string",
            "format": "uuid",
            "description": "The event's `id` (alerts: `varsel_id`). JetStream drops a repeat inside the "
            "stream's duplicate window (2 h). A message republished after the stream lost acknowledged "
            "messages may come without it: deduplicate by `id` / `varsel_id`, not by the header.",
        }
    },
}


def asyncapi(alle: list[Melding]) -> dict[str, Any]:
    """An AsyncAPI 2.6 document of both streams; payloads are components generated by msgspec."""
    _, komponenter = msgspec.json.schema_components(
        [m.payload for m in alle], ref_template="#/components/schemas/{name}"
    )
    kanaler: dict[str, Any] = {}
    meldinger_: dict[str, Any] = {}
    for m in alle:
        meldinger_[m.navn] = {
            "name": m.navn,
            "title": m.navn,
            "summary": m.beskrivelse,
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/NatsHeaders"},
            "payload": {"$ref": f"#/components/schemas/{m.navn}"},
            "correlationId": {"$ref": "#/components/correlationIds/correlation_id"}
            if m.strom == HENDELSER
            else {"location": "$message.payload#/varsel_id"},
            "x-json-schema": m.fil,
        }
        kanal: dict[str, Any] = {
            "description": f"Stream {m.strom}. {m.beskrivelse}",
            "subscribe": {
                "operationId": f"motta{m.navn}",
                "summary": f"Receive {m.navn} (a durable JetStream consumer on {m.strom}; docs/subscribers.md).",
                "message": {"$ref": f"#/components/messages/{m.navn}"},
            },
        }
        if m.strom == VARSLER:
            kanal["parameters"] = {
                "type": {
                    "description": "The alert type (rules.md §8.5 and §5.3); also the payload's `type`.",
                    "schema": {"type": "string", "enum": sorted(VARSELTYPER)},
                }
            }
        kanaler[m.subject] = kanal
    komponenter["NatsHeaders"] = _HEADERS
    return {
        "asyncapi": "2.6.0",
        "id": "urn:no:nav:forlop",
        "info": {
            "title": "Forløp events and alerts on NATS JetStream",
            "version": "1",
            "description": (
                "Generated from the code by `make docs` (workers/schemas.py); do not edit. "
                f"Stream {HENDELSER} (subjects `{HENDELSE_SUBJECT}.<aggregat>.<Type>`): one message per stored "
                "event of the tiltakslop and ungdomsgaranti aggregates, in store order per aggregate, at least "
                "once, with header Nats-Msg-Id = the event's id. The person appears only as `person_pseudonym` "
                "(lowercase hex HMAC-SHA256 of the identifier under a key NAV holds; stable per person, not "
                "reversible without the key); the identifier and `fodselsdato` are never sent. Erasing a "
                f"person publishes `{HENDELSE_SUBJECT}.{TOMBSTONE_AGGREGAT}.{TOMBSTONE}`. "
                f"Stream {VARSLER} (subjects `{VARSEL_SUBJECT}.<TYPE>`): deadline alerts, each sent once "
                "(Nats-Msg-Id = varsel_id), a late one with `forsinket: true`. "
                "Subscriber guidance (dedupe by id, gaps by versjon, catch-up from GET /api/v1/hendelser): "
                "docs/subscribers.md. One JSON Schema per message: docs/schemas/."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "lokal": {
                "url": "nats://127.0.0.1:4222",
                "protocol": "nats",
                "description": "`forlop up` (the embedded nats-server; NATS_URL in a deployment).",
            }
        },
        "channels": kanaler,
        "components": {
            "messages": meldinger_,
            "schemas": komponenter,
            "correlationIds": {
                "correlation_id": {
                    "description": "Shared by the events one request stored.",
                    "location": "$message.payload#/correlation_id",
                }
            },
        },
    }


def generer() -> dict[str, str]:
    """Every generated file's text, by its path under docs/."""
    alle = meldinger()
    filer = {m.fil: _json(json_schema(m)) for m in alle}
    filer[ASYNCAPI_FIL] = _json(asyncapi(alle))
    return dict(sorted(filer.items()))


def avvik(docs: Path = DOCS) -> list[str]:
    """The generated files that are missing or differ on disk, and stale schema files no message has."""
    filer = generer()
    ut = [
        navn
        for navn, tekst in filer.items()
        if not (docs / navn).is_file() or (docs / navn).read_text("utf-8") != tekst
    ]
    mappe = docs / SKJEMA_MAPPE
    if mappe.is_dir():
        ut += [
            f"{SKJEMA_MAPPE}/{p.name} (stale)"
            for p in sorted(mappe.glob("*.json"))
            if f"{SKJEMA_MAPPE}/{p.name}" not in filer
        ]
    return ut


def skriv(docs: Path = DOCS) -> list[Path]:
    """Write the files (and remove schema files of messages that no longer exist); the paths written."""
    filer = generer()
    (docs / SKJEMA_MAPPE).mkdir(parents=True, exist_ok=True)
    for p in (docs / SKJEMA_MAPPE).glob("*.json"):
        if f"{SKJEMA_MAPPE}/{p.name}" not in filer:
            p.unlink()
    skrevet = []
    for navn, tekst in filer.items():
        sti = docs / navn
        if not sti.is_file() or sti.read_text("utf-8") != tekst:
            sti.write_text(tekst, encoding="utf-8")
            skrevet.append(sti)
    return skrevet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.schemas", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--docs", type=Path, default=DOCS, help="the docs directory (default: the repository's)"
    )
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the files are stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = avvik(args.docs)
        for navn in stale:
            print(f"stale: {navn}", file=sys.stderr)
        return 1 if stale else 0
    skrevet = skriv(args.docs)
    print(f"{len(generer())} files generated under {args.docs}; {len(skrevet)} changed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
