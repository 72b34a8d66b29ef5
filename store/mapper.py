"""msgspec transcoding for eventsourcing's `Mapper`, typed decoding, and the hash chain over stored events.

Stored state of an event (the `state` column), byte for byte::

    {"lenke":"<64 lowercase hex>",<rest>

where `{<rest>` is the msgspec JSON object of the event's state (its dataclass fields except
`originator_id`/`originator_version`, plus `class_version` when > 1). The result is itself one JSON object, so
eventsourcing's own JSON tooling, psql and jq can read it.

The link of version v of aggregate `id` (32 bytes)::

    link(v) = sha256( link(v-1)                        32 bytes; link(0) = 32 zero bytes
                    ‖ id.bytes                         16 bytes
                    ‖ v as signed 64-bit big-endian     8 bytes
                    ‖ len(topic) as 32-bit big-endian   4 bytes
                    ‖ topic (UTF-8)
                    ‖ rest )                           the stored bytes after the 76-byte prefix

It covers the bytes as stored (after any field encryption inside the JSON), so it verifies without a key.
Altering one row's state, topic or version breaks that row's link only: verification recomputes each
link from the previous row's *stored* link, so it names exactly the rows that were changed.

Whole-blob `cipher`/`compressor` of eventsourcing are not supported for events: they would hide the prefix.
Personal fields are encrypted per person inside the JSON instead (`store.encryption`, the `cipher` argument
of `ForlopMapper`): async code calls `prepare_reading`/`prepare_storing` to load the keys first, then the
synchronous encode/decode here uses them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import typing
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypedDict
from uuid import UUID

import msgspec
from eventsourcing.domain import CanSnapshotAggregate
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from store.encryption import MARKOR_BYTES, NOKLER_TIL_LASTET, PERSONLIGE, FieldEncryption, person_ids
from store.keys import KeyRing, as_uuid

ZERO_LINK = bytes(32)
_PREFIX_HEAD = b'{"lenke":"'
_PREFIX_LEN = len(_PREFIX_HEAD) + 64 + 2  # {"lenke":"<64 hex>",
LINK_ATTRIBUTE = "lenke"
# The aggregate's last stored (version, link) as the repository remembers it; never part of its state.
HEAD_ATTRIBUTE = "_forlop_lenke"
_SKIPPED_EVENT_FIELDS = frozenset({"originator_id", "originator_version"})


class MsgspecTranscoder(Transcoder):
    """eventsourcing's Transcoder interface on msgspec JSON (UUID, date, datetime, Decimal, enums and
    dataclasses are native to msgspec; no per-type registration). `decode` is untyped: typed decoding is
    the mapper's, because only the mapper knows the class."""

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="string")
        self._decoder = msgspec.json.Decoder()

    def encode(self, obj: Any) -> bytes:
        return self._encoder.encode(obj)

    def decode(self, data: bytes) -> Any:
        return self._decoder.decode(data)


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, UUID):  # e.g. asyncpg's UUID subclass
        return str(obj)
    raise NotImplementedError(f"cannot encode {type(obj)!r}")


# --- hash chain -------------------------------------------------------------------------------------


def compute_link(prev: bytes, originator_id: UUID, version: int, topic: str, rest: bytes) -> bytes:
    topic_bytes = topic.encode()
    h = hashlib.sha256(prev)
    h.update(originator_id.bytes)
    h.update(struct.pack(">qI", version, len(topic_bytes)))
    h.update(topic_bytes)
    h.update(rest)
    return h.digest()


def chained_state(
    prev: bytes, originator_id: UUID, version: int, topic: str, body: bytes
) -> tuple[bytes, bytes]:
    """(link, stored state) for the transcoded JSON object `body` following `prev`."""
    if body[:1] != b"{" or body == b"{}":
        raise ValueError("event state must be a non-empty JSON object")
    rest = body[1:]
    link = compute_link(prev, originator_id, version, topic, rest)
    return link, _PREFIX_HEAD + link.hex().encode() + b'",' + rest


def link_of(stored_state: bytes) -> bytes | None:
    """The link written in a stored state, or None for a state without one (not written by this store)."""
    if not stored_state.startswith(_PREFIX_HEAD) or stored_state[_PREFIX_LEN - 2 : _PREFIX_LEN] != b'",':
        return None
    try:
        return bytes.fromhex(stored_state[len(_PREFIX_HEAD) : _PREFIX_LEN - 2].decode())
    except ValueError:
        return None


def verify_chain(stored_events: Iterable[StoredEvent], start: bytes | None = None) -> list[int]:
    """Versions whose stored link does not match the recomputed one.

    `stored_events` are one aggregate's events in ascending version order (several aggregates may be
    interleaved; each is checked on its own). A stream must start at version 1 unless `start` (the link of
    the version before the first given one) is passed. A gap in versions flags the version after it.
    """
    heads: dict[UUID, tuple[int, bytes]] = {}
    bad: list[int] = []
    for se in stored_events:
        oid = as_uuid(se.originator_id)
        if oid in heads:
            prev_version, prev = heads[oid]
        else:
            prev_version, prev = se.originator_version - 1, (start if start is not None else ZERO_LINK)
            if start is None and se.originator_version != 1:
                bad.append(se.originator_version)
        stored = link_of(se.state)
        rest = se.state[_PREFIX_LEN:]
        expected = compute_link(prev, oid, se.originator_version, se.topic, rest)
        if stored != expected or se.originator_version != prev_version + 1:
            if not bad or bad[-1] != se.originator_version:
                bad.append(se.originator_version)
        heads[oid] = (se.originator_version, stored if stored is not None else ZERO_LINK)
    return bad


# --- typed decoding -----------------------------------------------------------------------------------


class _SnapshotOuter(TypedDict, total=False):
    timestamp: datetime
    topic: str
    state: msgspec.Raw
    class_version: int


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _kan_glemmes(name: str, hint: Any) -> Any:
    """A personal field decodes to None once its person is forgotten (store.encryption)."""
    return hint | None if name in PERSONLIGE and hint is not Any else hint  # type: ignore[operator]


def _event_state_type(cls: type) -> type:
    hints = _hints(cls)
    fields: dict[str, Any] = {
        f.name: _kan_glemmes(f.name, hints.get(f.name, Any))
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name not in _SKIPPED_EVENT_FIELDS
    }
    fields["class_version"] = int
    fields[LINK_ATTRIBUTE] = str
    return TypedDict(f"{cls.__name__}Tilstand", fields, total=False)  # type: ignore[operator]


def _aggregate_state_type(cls: type) -> type:
    """The aggregate's own annotations (design.md: every state attribute is annotated), plus the base's."""
    fields: dict[str, Any] = {"_created_on": datetime, "_modified_on": datetime, "class_version": int}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith(("eventsourcing", "typing", "builtins")):
            continue
        if "__annotations__" not in klass.__dict__:
            continue
        hints = typing.get_type_hints(klass)
        for name in klass.__dict__["__annotations__"]:
            hint = hints.get(name, Any)
            if typing.get_origin(hint) is typing.ClassVar:
                continue
            fields[name] = _kan_glemmes(name, hint)
    return TypedDict(f"{cls.__name__}Tilstand", fields, total=False)  # type: ignore[operator]


class ForlopMapper(Mapper[UUID]):
    """eventsourcing's Mapper with msgspec JSON, typed decoding per class (decoders cached), upcasting,
    and the hash chain.

    `to_stored_event(event, prev_link)` chains events when `prev_link` is given (the store always passes
    it); snapshots are never chained. `to_domain_event` sets the hex link as attribute `lenke` on the event
    (outside the dataclass fields: it takes no part in equality).
    """

    def __init__(self, transcoder: Transcoder | None = None, *, cipher: FieldEncryption | None = None) -> None:
        super().__init__(transcoder or MsgspecTranscoder())
        self.felt_cipher = cipher
        self._encoder = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="string")
        self._decoders: dict[type, Callable[[bytes], Any]] = {}
        self._state_types: dict[type, type] = {}
        self._snapshot_outer = msgspec.json.Decoder(_SnapshotOuter)
        self._snapshot_info: dict[type, tuple[str, frozenset[str]]] = {}

    # encoding

    def encode_body(self, domain_event: Any) -> tuple[str, bytes]:
        """(topic, JSON object) of an event or snapshot, without chain prefix."""
        topic = get_topic(type(domain_event))
        state = dict(vars(domain_event))
        state.pop("originator_id")
        state.pop("originator_version")
        state.pop(LINK_ATTRIBUTE, None)
        if isinstance(domain_event, CanSnapshotAggregate):
            aggregate_cls = resolve_topic(domain_event.topic)  # type: ignore[attr-defined]
            state["state"] = self._aggregattilstand(
                aggregate_cls, dict(state["state"]), as_uuid(domain_event.originator_id)
            )
        elif self.felt_cipher is not None:
            self.felt_cipher.encrypt(state, as_uuid(domain_event.originator_id))
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        return topic, self._encoder.encode(state)

    def encode_state(self, aggregat: Any, timestamp: datetime) -> bytes:
        """The stored state of `Snapshot.take(aggregat)` stamped `timestamp` (equal bytes to
        `to_stored_event` of that snapshot, without building the snapshot): what the views keep per row."""
        cls = type(aggregat)
        state = dict(vars(aggregat))
        class_version = getattr(cls, "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        del state["_id"], state["_version"], state["_pending_events"]
        state = self._aggregattilstand(cls, state, as_uuid(aggregat.id))
        return self._encoder.encode({"timestamp": timestamp, "topic": self._snapshot_info[cls][0], "state": state})

    def _aggregattilstand(self, cls: type, state: dict[str, Any], originator_id: UUID) -> dict[str, Any]:
        """An aggregate's state as a snapshot stores it (in place): without the chain head, personal fields
        encrypted, and refused if it has an attribute typed decoding would drop silently."""
        state.pop(HEAD_ATTRIBUTE, None)
        if self.felt_cipher is not None:
            self.felt_cipher.encrypt(state, originator_id)
        try:
            known = self._snapshot_info[cls][1]
        except KeyError:
            known = frozenset(self._state_type(cls, _aggregate_state_type).__annotations__)
            self._snapshot_info[cls] = get_topic(cls), known
        if not known.issuperset(state):
            raise TypeError(f"{cls.__qualname__} has unannotated state: {sorted(state.keys() - known)}")
        return state

    # keys (async; the cipher's cache must hold every key the synchronous encode/decode needs)

    async def keys_for_loading(self, conn: Any, personer: Iterable[UUID] | None = None) -> str | None:
        """The query (`store.encryption.NOKLER_TIL_LASTET`) that reads, with the stored rows being loaded,
        the keys of the persons they name; pass its rows to `accept_keys`. None without field encryption,
        or if the caller knows whose rows they are (`personer`) and their keys are cached and fresh."""
        if self.felt_cipher is None:
            return None
        if personer is not None and self.felt_cipher.nokkelring.ferske(personer):
            return None
        return NOKLER_TIL_LASTET

    def accept_keys(self, rader: Iterable[tuple[Any, bytes | None]]) -> None:
        if self.felt_cipher is not None:
            self.felt_cipher.nokkelring.ta_imot(rader)

    async def prepare_reading(self, conn: Any, states: Iterable[bytes], *, laas: bool = False) -> None:
        """Load the keys of the persons named in stored `states` (events, snapshots, view rows)."""
        if self.felt_cipher is not None:
            ids = person_ids(states)
            if ids or laas:
                await self.felt_cipher.nokkelring.last(conn, ids, laas=laas)

    async def prepare_storing(self, conn: Any, objs: Iterable[Any], *, ny: bool = False) -> None:
        """Make sure the persons of the events or aggregates `objs` have keys (`ny`: a new grant, which
        gives a returning forgotten person a fresh key)."""
        if self.felt_cipher is None:
            return
        ids = {pid for o in objs if (pid := self.felt_cipher.person_id_av(getattr(o, "person", None)))}
        if ids:
            await self.felt_cipher.nokkelring.sikre(conn, ids, ny=ny)

    def to_stored_event(self, domain_event: Any, prev_link: bytes | None = None) -> StoredEvent:
        topic, body = self.encode_body(domain_event)
        originator_id = as_uuid(domain_event.originator_id)
        if prev_link is not None:
            _, body = chained_state(prev_link, originator_id, domain_event.originator_version, topic, body)
        return StoredEvent(originator_id, domain_event.originator_version, topic, body)

    # decoding

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return self.hendelse(
            stored_event.originator_id, stored_event.originator_version, stored_event.topic, stored_event.state
        )

    def hendelse(self, originator_id: Any, originator_version: int, topic: str, state: bytes) -> Any:
        """`to_domain_event` of a stored event given by its columns (no StoredEvent object needed)."""
        cls = resolve_topic(topic)
        try:
            oid = as_uuid(originator_id)
            if issubclass(cls, CanSnapshotAggregate):
                felter = self._decode_snapshot(state, oid)
            else:
                felter = self._decode_event(cls, state, oid)
        except Exception as e:
            raise MapperDeserialisationError(
                f"Failed to deserialise state of stored event with topic '{topic}', originator_id "
                f"'{originator_id}' and originator_version {originator_version}: {e}"
            ) from e
        felter["originator_id"] = oid
        felter["originator_version"] = originator_version
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", felter)
        return domain_event

    def _decode_event(self, cls: type, data: bytes, originator_id: UUID) -> dict[str, Any]:
        class_version = getattr(cls, "class_version", 1)
        kryptert = self.felt_cipher is not None and MARKOR_BYTES in data
        if class_version == 1 and not kryptert:
            return self._decoder(cls)(data)
        # An older stored version may have other field types, and encrypted fields are decrypted first:
        # upcast and decrypt the plain dict, then convert.
        state = self.transcoder.decode(data)
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        if kryptert and self.felt_cipher is not None:
            self.felt_cipher.decrypt(state, originator_id)
        return msgspec.convert(state, self._state_type(cls, _event_state_type), strict=False)

    def _decode_snapshot(self, data: bytes, originator_id: UUID) -> dict[str, Any]:
        outer = typing.cast(dict[str, Any], self._snapshot_outer.decode(data))
        outer.pop("class_version", None)
        aggregate_cls = resolve_topic(outer["topic"])
        raw = outer["state"]
        class_version = getattr(aggregate_cls, "class_version", 1)
        kryptert = self.felt_cipher is not None and MARKOR_BYTES in bytes(raw)
        if class_version == 1 and not kryptert:
            outer["state"] = self._decoder(aggregate_cls)(raw)
            return outer
        state = self.transcoder.decode(raw)
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(aggregate_cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        if kryptert and self.felt_cipher is not None:
            self.felt_cipher.decrypt(state, originator_id)
        state = msgspec.convert(state, self._state_type(aggregate_cls, _aggregate_state_type), strict=False)
        if class_version > 1:
            state["class_version"] = class_version  # already upcast: Snapshot.mutate must not upcast again
        else:
            state.pop("class_version", None)
        outer["state"] = state
        return outer

    def _state_type(self, cls: type, build: Callable[[type], type]) -> type:
        try:
            return self._state_types[cls]
        except KeyError:
            t = self._state_types[cls] = build(cls)
            return t

    def _decoder(self, cls: type) -> Callable[[bytes], Any]:
        try:
            return self._decoders[cls]
        except KeyError:
            pass
        build = _aggregate_state_type if hasattr(cls, "pending_events") else _event_state_type
        decode: Callable[[bytes], Any] = msgspec.json.Decoder(self._state_type(cls, build)).decode

        def decoder(data: bytes) -> Any:
            state = decode(data)
            state.pop("class_version", None)
            return state

        self._decoders[cls] = decoder
        return decoder


def mapper_for(person_nokkel: bytes, *, kryptert: bool, ttl: float = 2.0) -> ForlopMapper:
    """The process's mapper: with per-person field encryption (`kryptert`, settings.field_encryption) it
    owns one key cache, so share it between everything in a process that encodes or decodes."""
    if not kryptert:
        return ForlopMapper()
    return ForlopMapper(cipher=FieldEncryption(KeyRing(ttl=ttl), person_nokkel))
