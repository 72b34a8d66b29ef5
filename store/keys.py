"""Per-person keys for the personal fields of events and snapshots (GDPR erasure by destroying a key).

`forlop_personnokler(person_id, nokkel, opprettet, glemt)`: one AES-256 key per person record id
(`domain.person.person_id`, a keyed hash of the identifier). Forgetting a person sets `nokkel` to NULL and
stamps `glemt`; every ciphertext under that key is then unreadable, everywhere, without touching the
events table (whose hash chain covers the ciphertext, so it still verifies).

The `KeyRing` is the in-memory cache that the synchronous mapper reads. Async code fills it before
decoding (`last`) or encoding (`sikre`); the mapper never does I/O. A person id whose state is not in the
cache makes the cipher raise `KeyNotLoaded` (a missed `last` is a bug, not an erasure).

Staleness bound: another process that cached a key before it was forgotten may keep using it until its
next `last`/`sikre` after `ttl` seconds (default 2 s), i.e. for at most `ttl` plus one operation. Paths that
must not race an erasure (the projections) pass `laas=True`, which rereads the rows `FOR SHARE` in the
caller's transaction: `glem` (which updates the row) cannot commit between that read and the caller's
commit.

A person who returns after being forgotten gets a fresh key on a new grant (`sikre(..., ny=True)`); the
old ciphertexts fail authentication under it and keep decoding as erased. Any other write for a forgotten
person (e.g. a snapshot of a case loaded just before the erasure) writes the personal fields as erased.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

TABELL = "forlop_personnokler"  # made by store/migrations/0002_person_keys.sql

GLEMT = b""
"""The cached value of a forgotten key: the personal fields decode as erased and are never written."""
MANGLER = b"-"
"""The cached value of a person without a key row (never keyed): ciphertexts of it cannot be read either."""

Forbindelse: TypeAlias = asyncpg.Pool | asyncpg.Connection

# `KeyRing.sikre`: insert a key for each of $1 that has none (the new key from $2), and give the key of
# each: the one inserted (or, `_NY`, set in place of a forgotten one), else the one already there (as this
# statement's snapshot holds it: the data-modifying CTE's rows are not visible to the rest of the query).
_SIKRE_MAL = f"""WITH satt AS (
    INSERT INTO {TABELL} (person_id, nokkel) SELECT * FROM unnest($1::uuid[], $2::bytea[])
    ON CONFLICT (person_id) DO {{}}
    RETURNING person_id, nokkel
)
SELECT person_id, nokkel FROM satt
UNION ALL
SELECT person_id, nokkel FROM {TABELL}
WHERE person_id = ANY($1::uuid[]) AND person_id NOT IN (SELECT person_id FROM satt)"""
_SIKRE = _SIKRE_MAL.format("NOTHING")
_SIKRE_NY = _SIKRE_MAL.format(
    f"UPDATE SET nokkel = excluded.nokkel, opprettet = now(), glemt = NULL WHERE {TABELL}.nokkel IS NULL"
)


def as_uuid(value: object) -> UUID:
    """asyncpg's UUID subclass (or text) as the standard UUID (domain objects get the standard one)."""
    if type(value) is UUID:
        return value
    if isinstance(value, UUID):  # without parsing anything
        return UUID(int=value.int)
    return UUID(str(value))


class KeyNotLoaded(RuntimeError):
    """The cipher needed a key that no `last`/`sikre` put in the cache: a decoding path skipped it."""


class KeyRing:
    """The per-person keys a process has read lately, each used for `ttl` seconds after it was read.

    Bounded: at `maks` entries, those older than `ttl` (which would be read again anyway) are dropped, and
    if more than `maks` were read within `ttl`, the older half of them. Without the bound a long-running API
    or a rebuild kept one entry per person it ever saw (about 350 bytes each: hundreds of MB at national
    volume)."""

    def __init__(self, *, ttl: float = 2.0, maks: int = 50_000) -> None:
        self.ttl = ttl
        self.maks = maks
        self._cache: dict[UUID, tuple[bytes, float]] = {}

    def __len__(self) -> int:
        return len(self._cache)

    def _plass(self, naa: float, nye: int) -> None:
        """Make room for `nye` entries (called before they are put in)."""
        if len(self._cache) + nye <= self.maks:
            return
        self._cache = {p: e for p, e in self._cache.items() if naa - e[1] <= self.ttl}
        if len(self._cache) + nye > self.maks:
            nyeste = sorted(self._cache.items(), key=lambda kv: kv[1][1])[len(self._cache) // 2 :]
            self._cache = dict(nyeste)

    # --- synchronous, for the mapper ----------------------------------------------------------------

    def nokkel(self, person_id: UUID) -> bytes | None:
        """The key, or None when the person is forgotten (or has no key). Raises KeyNotLoaded."""
        try:
            verdi, _ = self._cache[person_id]
        except KeyError:
            raise KeyNotLoaded(f"no key loaded for person record {person_id}") from None
        return verdi if len(verdi) == 32 else None

    def er_glemt(self, person_id: UUID) -> bool:
        """True if the cache knows the person as forgotten (a NULL key), not merely unknown."""
        entry = self._cache.get(person_id)
        return entry is not None and entry[0] == GLEMT

    # --- async, to fill the cache -------------------------------------------------------------------

    async def last(self, conn: Forbindelse, person_ids: Iterable[UUID], *, laas: bool = False) -> None:
        """Load the keys of `person_ids` that are not cached or older than `ttl` (all of them with `laas`,
        reading them `FOR SHARE` in the caller's transaction). A missing row caches as MANGLER."""
        naa = time.monotonic()
        ids = {as_uuid(p) for p in person_ids}
        if not laas:
            ids = {p for p in ids if p not in self._cache or naa - self._cache[p][1] > self.ttl}
        if not ids:
            return
        rows = await conn.fetch(
            f"SELECT person_id, nokkel FROM {TABELL} WHERE person_id = ANY($1::uuid[])"
            + (" ORDER BY person_id FOR SHARE" if laas else ""),
            list(ids),
        )
        self._plass(naa, len(ids))  # room for all of them first: none of this batch is dropped below
        self.ta_imot(rows, naa)
        for p in ids.difference(as_uuid(r[0]) for r in rows):  # no row: never keyed
            self._cache[p] = (MANGLER, naa)

    def ferske(self, person_ids: Iterable[UUID]) -> bool:
        """True if `last` would load none of these keys now (each is cached and younger than `ttl`)."""
        naa = time.monotonic()
        return all(self._fersk(as_uuid(p), naa, godta_glemt=True) for p in person_ids)

    def ta_imot(self, rader: Iterable[tuple[Any, Any]], naa: float | None = None) -> None:
        """Cache key rows (person id, key or NULL: forgotten) as read just now: by `last` and `sikre`, or by
        another query (`store.encryption.NOKLER_TIL_LASTET`, the keys read in the same statement as the rows
        they decrypt; the read buffer's check)."""
        naa = time.monotonic() if naa is None else naa
        rader = list(rader)
        self._plass(naa, len(rader))
        for person, nokkel in rader:
            self._cache[as_uuid(person)] = (bytes(nokkel) if nokkel else GLEMT, naa)

    async def sikre(self, conn: Forbindelse, person_ids: Iterable[UUID], *, ny: bool = False) -> None:
        """Create a key for each person that has none, and cache the keys. A forgotten key stays forgotten
        (the cipher then writes the personal fields as erased) unless `ny`: a new grant for a person who
        returns after being forgotten gets a fresh key."""
        naa = time.monotonic()
        ids = {as_uuid(p) for p in person_ids}
        ids = {p for p in ids if not self._fersk(p, naa, godta_glemt=not ny)}
        if not ids:
            return
        ordnet = sorted(ids)
        # One statement: insert the missing keys and read every key of `ordnet`. Race-safe: concurrent
        # creators both insert, one wins, and both use the winner's key. A row another transaction committed
        # after this statement's snapshot (its insert then found the conflict) is not in what it read: read
        # such rows again, after it.
        rows = await conn.fetch(_SIKRE_NY if ny else _SIKRE, ordnet, [os.urandom(32) for _ in ordnet])
        funnet = {as_uuid(r[0]) for r in rows}
        if len(funnet) < len(ordnet):
            rows = [*rows, *await conn.fetch(
                f"SELECT person_id, nokkel FROM {TABELL} WHERE person_id = ANY($1::uuid[])",
                [p for p in ordnet if p not in funnet],
            )]
        self.ta_imot(rows, naa)

    def _fersk(self, person_id: UUID, naa: float, *, godta_glemt: bool) -> bool:
        entry = self._cache.get(person_id)
        if entry is None or naa - entry[1] > self.ttl:
            return False
        return len(entry[0]) == 32 or (godta_glemt and entry[0] == GLEMT)

    async def glem(self, conn: Forbindelse, person_id: UUID) -> bool:
        """Destroy the person's key (idempotent); True if a live key was destroyed now."""
        person_id = as_uuid(person_id)
        status = await conn.execute(
            f"""INSERT INTO {TABELL} (person_id, nokkel, glemt) VALUES ($1, NULL, now())
            ON CONFLICT (person_id) DO UPDATE SET nokkel = NULL, glemt = now()
            WHERE {TABELL}.nokkel IS NOT NULL""",
            person_id,
        )
        self._cache[person_id] = (GLEMT, time.monotonic())
        # "INSERT 0 1" both for a new (never keyed) row and for a destroyed key; 0 when already forgotten.
        return status.endswith(" 1")

    def glem_lokalt(self, person_id: UUID) -> None:
        self._cache[as_uuid(person_id)] = (GLEMT, time.monotonic())

    def sett(self, person_id: UUID, nokkel: bytes | None) -> None:
        """Put one key (None: forgotten) in the cache, as read just now (the read buffer; tests)."""
        self.ta_imot(((person_id, nokkel),))
