"""The envelope every published event travels in (contract.md §3), shared by the relay and `GET /hendelser`.

`id, posisjon, aggregat, aggregat_id, versjon, type, skjema_versjon, registrert, aktor, correlation_id, data`.
`data` holds the event's fields under the command bodies' names, without the person: the identifier is
replaced by `person_pseudonym` (lowercase hex HMAC-SHA256 of the identifier under the configured key) and
the birth date is not sent. Only the two public aggregates' events are published, and one event of the
internal person record: the erasure tombstone `PersonGlemt` (`forlop.hendelse.person.PersonGlemt`,
`data: {"person_pseudonym"}`), so that subscribers delete what they keep under that pseudonym. Events of a
forgotten person's cases that are published after the erasure carry no pseudonym (it cannot be computed).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import Notification

from domain.ident import Fodselsnummer
from domain.person import Person
from domain.tiltakslop import Tiltakslop
from domain.ungdomsgaranti import Ungdomsgaranti
from store.mapper import ForlopMapper

AGGREGATER: dict[str, str] = {
    f"{Tiltakslop.__module__}:{Tiltakslop.__qualname__}.": "tiltakslop",
    f"{Ungdomsgaranti.__module__}:{Ungdomsgaranti.__qualname__}.": "ungdomsgaranti",
}
METADATA = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic", "kontekst", "regelsett_id", "lenke"}
)
PERSONLIG = frozenset({"person", "fodselsdato"})  # never on NATS: the person goes as `person_pseudonym`
TOMBSTONE_TOPIC = f"{Person.__module__}:{Person.__qualname__}.PersonGlemt"
TOMBSTONE_AGGREGAT = "person"


class Aktor(msgspec.Struct, kw_only=True):
    nav_ident: str
    enhet: str | None


class Envelope(msgspec.Struct, kw_only=True):
    id: UUID
    posisjon: int
    aggregat: str
    aggregat_id: UUID
    versjon: int
    type: str
    skjema_versjon: int
    registrert: datetime
    aktor: Aktor
    correlation_id: UUID
    data: dict[str, Any]


_AGGREGAT_AV: dict[str, str | None] = {}  # topic -> aggregate (a handful of topics)


def aggregat_av(topic: str) -> str | None:
    """`tiltakslop` / `ungdomsgaranti` for a published aggregate's event topic, else None."""
    try:
        return _AGGREGAT_AV[topic]
    except KeyError:
        pass
    navn = next((navn for prefix, navn in AGGREGATER.items() if topic.startswith(prefix)), None)
    if len(_AGGREGAT_AV) < 10_000:
        _AGGREGAT_AV[topic] = navn
    return navn


def pseudonym(nokkel: bytes, person: Fodselsnummer) -> str:
    return hmac.digest(nokkel, person.verdi.encode(), "sha256").hex()


def _hendelse_id(aggregat_id: UUID, versjon: int) -> UUID:
    """`domain.tiltakslop.hendelse_id` (uuid5(aggregat_id, str(versjon))), computed without uuid5's
    intermediate objects: the same value (tests/unit/test_konvolutt.py)."""
    h = int.from_bytes(hashlib.sha1(aggregat_id.bytes + str(versjon).encode()).digest()[:16])
    return UUID(int=(h & _UUID5_MASKE) | _UUID5_BITER)


_UUID5_MASKE = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID5_BITER = (5 << 76) | (0x8000 << 48)


def event_data(event: Any, utelat: frozenset[str]) -> dict[str, Any]:
    """An event's own fields as JSON values: without the envelope's metadata and without `utelat`."""
    return msgspec.to_builtins(
        {k: v for k, v in vars(event).items() if k not in METADATA and k not in utelat}
    )


def publiseres(topic: str) -> bool:
    """Whether events of `topic` are published (make_envelope() gives an envelope, not None)."""
    return aggregat_av(topic) is not None or topic == TOMBSTONE_TOPIC


def make_envelope(mapper: ForlopMapper, notifikasjon: Notification, pseudonym_nokkel: bytes) -> Envelope | None:
    """The envelope of one stored event, or None for an event that is not published (the person record)."""
    aggregat = aggregat_av(notifikasjon.topic)
    if aggregat is None:
        if notifikasjon.topic != TOMBSTONE_TOPIC:
            return None
        aggregat = TOMBSTONE_AGGREGAT
    event = mapper.to_domain_event(notifikasjon)
    data = event_data(event, PERSONLIG)
    person = getattr(event, "person", None)
    if isinstance(person, Fodselsnummer):
        data["person_pseudonym"] = pseudonym(pseudonym_nokkel, person)
    kontekst = event.kontekst
    aktor = kontekst.aktor
    return Envelope(
        id=_hendelse_id(event.originator_id, event.originator_version),
        posisjon=notifikasjon.id,
        aggregat=aggregat,
        aggregat_id=event.originator_id,
        versjon=event.originator_version,
        type=type(event).__name__,
        skjema_versjon=getattr(type(event), "class_version", 1),
        registrert=event.timestamp,
        aktor=Aktor(nav_ident=aktor.nav_ident, enhet=aktor.enhet),
        correlation_id=kontekst.correlation_id,
        data=data,
    )


def subject(k: Envelope) -> str:
    return f"forlop.hendelse.{k.aggregat}.{k.type}"
