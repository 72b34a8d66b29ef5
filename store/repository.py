"""The async event store: load aggregates (from the latest snapshot, then events), save several at once.

Chain head. Each aggregate loaded or saved here carries its last stored `(version, link)` as the
attribute `_forlop_lenke` (`store.mapper.HEAD_ATTRIBUTE`). It is not domain state: the mapper strips it
from snapshots. A save chains the new events from it and asks the recorder to check, under the table
lock, that the stored row at that version still carries that link. This is the optimistic-concurrency
check: a save builds on exactly what is stored, or it fails with `VersionConflict`. An aggregate whose
earlier save failed cannot be saved again without reloading it. The link is remembered rather than reread,
so a save costs no extra round trip.

Snapshots: after a save that crosses a multiple of `snapshot_every`, a snapshot of the aggregate is
written (after the events are committed, so a snapshot is never ahead of the events). `get` reads, in one
query, the latest snapshot at or below the requested version and the events from its version on (the
event at the snapshot's version only for its link).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from domain.errors import NotFound, VersionConflict
from store.idempotency import Kommando
from store.mapper import HEAD_ATTRIBUTE, ZERO_LINK, ForlopMapper, chained_state, link_of
from store.recorder import AsyncPostgresRecorder, SaveRequest

log = logging.getLogger(__name__)

A = TypeVar("A", bound=Aggregate)


class EventStore:
    def __init__(
        self,
        recorder: AsyncPostgresRecorder,
        mapper: ForlopMapper | None = None,
        *,
        snapshot_every: int | None = 100,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper or ForlopMapper()
        self.snapshot_every = snapshot_every
        self.rows_read = 0  # events and snapshots decoded by get(): lets tests and metrics see snapshots work

    async def get(self, aggregate_id: UUID, cls: type[A] | None = None, version: int | None = None) -> A:
        """The aggregate at `version` (default: latest); NotFound if it has no events (at that version)."""
        if self.snapshot_every:
            snapshot, stored = await self.recorder.select_for_load(aggregate_id, version)
            await self.mapper.prepare_reading(
                self.recorder.pool, [*([snapshot.state] if snapshot is not None else []), *(se.state for se in stored)]
            )
        else:
            snapshot, stored = None, await self.recorder.select_events(aggregate_id, lte=version)
            await self.mapper.prepare_reading(self.recorder.pool, (se.state for se in stored))
        return self._bygg(aggregate_id, snapshot, stored, cls)

    async def get_current(self, aggregate_id: UUID, cls: type[A] | None = None) -> A:
        """The latest version, as `get` loads it, with the keys of its persons read in the same statement:
        whatever process erased a person, this load sees it (a key `get` finds cached may be up to the key
        ring's ttl old). NotFound as `get`."""
        [aggregate] = await self.get_flere((aggregate_id, cls))
        if aggregate is None:
            raise NotFound("aggregate not found", id=str(aggregate_id))
        return aggregate

    async def get_flere(self, *wanted: tuple[UUID, type[Any] | None]) -> list[Any]:
        """The latest version of each (id, class) in one round trip, with the keys of the persons they name,
        as `get` loads them; None for an id that has no events (or is of another class)."""
        # The keys come in the same statement; `prepare_reading` then loads only any others (a state naming
        # a second person).
        loaded, nokler = await self.recorder.select_for_load_many_with(
            [agg_id for agg_id, _ in wanted], await self.mapper.keys_for_loading(self.recorder.pool)
        )
        self.mapper.accept_keys(nokler)
        await self.mapper.prepare_reading(
            self.recorder.pool,
            [se.state for snapshot, stored in loaded.values() for se in ([snapshot] if snapshot else []) + stored],
        )
        out: list[Any] = []
        for agg_id, cls in wanted:
            try:
                out.append(self._bygg(agg_id, *loaded[agg_id], cls))
            except NotFound:
                out.append(None)
        return out

    def _bygg(self, aggregate_id: UUID, snapshot: Any, stored: list[Any], cls: type[Any] | None) -> Any:
        """The aggregate from its snapshot (if any) and the events after it (keys already loaded)."""
        aggregate: Any = None
        if snapshot is not None:
            self.rows_read += 1
            aggregate = self.mapper.to_domain_event(snapshot).mutate(None)
        self.rows_read += len(stored)
        link: bytes | None = None
        for se in stored:
            link = link_of(se.state)
            if aggregate is not None and se.originator_version <= aggregate.version:
                continue
            aggregate = self.mapper.to_domain_event(se).mutate(aggregate)
        return self._loaded(aggregate_id, aggregate, link, cls)

    async def get_at_instant(self, aggregate_id: UUID, instant: datetime, cls: type[A] | None = None) -> A:
        """The aggregate as the system knew it at `instant`: the events recorded (timestamp) up to then."""
        stored = await self.recorder.select_events(aggregate_id)
        await self.mapper.prepare_reading(self.recorder.pool, (se.state for se in stored))
        self.rows_read += len(stored)
        aggregate: Any = None
        link: bytes | None = None
        for se in stored:
            event = self.mapper.to_domain_event(se)
            if event.timestamp > instant:
                break
            aggregate = event.mutate(aggregate)
            link = link_of(se.state)
        return self._loaded(aggregate_id, aggregate, link, cls)

    @staticmethod
    def _loaded(aggregate_id: UUID, aggregate: Any, link: bytes | None, cls: type[A] | None) -> A:
        if aggregate is None or (cls is not None and not isinstance(aggregate, cls)):
            raise NotFound("aggregate not found", id=str(aggregate_id))
        aggregate.__dict__[HEAD_ATTRIBUTE] = (aggregate.version, link)
        return aggregate

    async def save(self, *aggregates: Aggregate, idempotency: Kommando | None = None) -> list[int]:
        """Store the pending events of all `aggregates` atomically (one transaction, shared with other
        concurrent saves); their notification ids, ascending (the last is the save's position).

        Raises VersionConflict if any aggregate was changed since it was loaded (nothing is stored), and
        store.idempotency.DuplicateCommand if `idempotency.command_id` was recorded before."""
        await self.ensure_keys(*aggregates)
        events = []
        heads: dict[UUID, bytes | None] = {}
        new_heads: list[tuple[Aggregate, int, int, bytes]] = []
        for aggregate in {id(a): a for a in aggregates}.values():  # the same object twice is saved once
            pending = aggregate.collect_events()
            if not pending:
                continue
            first = pending[0].originator_version
            prev, checked = self._head(aggregate, first)
            heads[aggregate.id] = checked
            for domain_event in pending:
                topic, body = self.mapper.encode_body(domain_event)
                prev, state = chained_state(prev, aggregate.id, domain_event.originator_version, topic, body)
                events.append(StoredEvent(aggregate.id, domain_event.originator_version, topic, state))
            new_heads.append((aggregate, first, pending[-1].originator_version, prev))
        if not events and idempotency is None:
            return []
        ids = await self.recorder.write(SaveRequest(events, heads, idempotency))
        for aggregate, first, last, link in new_heads:
            aggregate.__dict__[HEAD_ATTRIBUTE] = (last, link)
            if self.snapshot_every and last // self.snapshot_every > (first - 1) // self.snapshot_every:
                await self._snapshot(aggregate)
        return ids

    async def ensure_keys(self, *aggregates: Aggregate, ny: bool = False) -> None:
        """Keys for the persons of `aggregates`, before their events or snapshots are encoded (a no-op
        without field encryption). `ny` for a new grant: a forgotten person who returns gets a fresh key."""
        await self.mapper.prepare_storing(self.recorder.pool, aggregates, ny=ny)

    @staticmethod
    def _head(aggregate: Aggregate, first: int) -> tuple[bytes, bytes | None]:
        """(link to chain from, link the stored predecessor must carry) for new events from `first`."""
        if first == 1:
            return ZERO_LINK, None
        head: tuple[int, bytes | None] | None = aggregate.__dict__.get(HEAD_ATTRIBUTE)
        if head is None or head[0] != first - 1:
            raise VersionConflict(
                "the aggregate's events do not follow what this store loaded or saved; reload it",
                id=str(aggregate.id),
            )
        return (head[1] or ZERO_LINK), head[1]

    async def _snapshot(self, aggregate: Aggregate) -> None:
        snapshot_cls = type(aggregate).Snapshot
        try:
            await self.recorder.insert_snapshot(self.mapper.to_stored_event(snapshot_cls.take(aggregate)))
        except Exception:  # a snapshot is an optimisation: the save itself is committed
            log.exception("snapshot failed", extra={"aggregate_id": str(aggregate.id)})

    async def close(self) -> None:
        await self.recorder.close()
