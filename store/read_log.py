"""The read log (`forlop_innsyn`): who read which person's data, when, through which endpoint.

Every API read that shows a person's data (a løp or guarantee, their history and its export, the person
overview, the deadline board, the alert inbox) records one row per person and case it showed: the token's
NAV ident and roles, the instant, the person's pseudonym (lowercase hex HMAC-SHA256 of the identifier
under the `pseudonym` key, the same value NATS subscribers see; never the identifier), the route template
and the aggregate, and the request's correlation id. A person lookup that shows no case (`POST
/personer/oversikt` of a person without cases in the caller's offices) records one row without an
aggregate: the lookup itself is what an auditor asks about.

Append-only. The table (store/migrations/0003_read_log.sql) is written only by `INSERT` from
`ReadLog._skriv`. A trigger refuses `UPDATE`,
`DELETE` and `TRUNCATE` for everyone but a superuser who drops it first. In production the application's
role should not own the table either, so that it cannot drop the trigger::

    -- as the schema owner (not the app's role):
    REVOKE ALL ON forlop_innsyn FROM forlop_app;
    GRANT INSERT, SELECT ON forlop_innsyn TO forlop_app;
    GRANT USAGE ON SEQUENCE forlop_innsyn_nr_seq TO forlop_app;

Not slowing reads. A read hands its rows to `registrer` (no I/O: it appends to an in-process queue) and is
answered at once; a background task writes the queue in batches (one `INSERT ... SELECT FROM unnest(...)`
per batch) every `intervall` seconds (default 50 ms), at once when `batch` rows are waiting.

The bound. A row is stored within `intervall` plus one insert after its read was answered, while the
database is up. While it is down, rows stay queued and the writer retries; if `maks` rows are waiting
(default 100 000), `registrer` raises `ReadLogFull` and the read is refused with 503, so no read is
answered that could not be logged. On shutdown (`stopp`, called from the app's lifespan) the queue is
written before the pool closes. What a crash of the process (SIGKILL, power loss) loses is at most the
rows of the last `intervall` (plus one batch in flight); `GET /revisjon/innsyn` writes the queue before it
reads, so an auditor on the same instance sees every read answered before its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg

from domain.errors import DomainError, InvalidRequest
from domain.ident import Fodselsnummer
from store.envelope import pseudonym
from store.unavailable import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)


TABELL = "forlop_innsyn"

_INSERT = (
    f"INSERT INTO {TABELL} (tidspunkt, nav_ident, roller, person_pseudonym, endepunkt, aggregat, aggregat_id, "
    "correlation_id) SELECT t, i, string_to_array(r, ','), p, e, a, g, c FROM unnest("
    "$1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::uuid[]) "
    "AS x(t, i, r, p, e, a, g, c)"
)


class ReadLogFull(DomainError):
    """The read log cannot keep up (the database is unreachable): the read is refused, not answered unlogged."""

    status = 503

    def __init__(self) -> None:
        super().__init__("READ_LOG_UNAVAILABLE", "the read log cannot record reads now; try again shortly")


class Innsyn(NamedTuple):
    """One row of the read log (a tuple: one is made on every read)."""

    tidspunkt: datetime
    nav_ident: str
    roller: tuple[str, ...]
    person_pseudonym: str
    endepunkt: str
    aggregat: str | None
    aggregat_id: UUID | None
    correlation_id: UUID


class ReadLog:
    def __init__(
        self,
        pool: asyncpg.Pool,
        pseudonym_nokkel: bytes,
        *,
        intervall: float = 0.05,
        batch: int = 1000,
        maks: int = 100_000,
    ) -> None:
        self.pool = pool
        self._nokkel = pseudonym_nokkel
        self.intervall = intervall
        self.batch = batch
        self.maks = maks
        self._ko: list[Innsyn] = []
        self._vekk = asyncio.Event()
        self._skrivelaas = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopper = False
        self._utilgjengelig = False  # the last write failed because the database did not answer
        self.skrevet = 0  # rows stored by this process (metrics, tests)
        self._pseudonymer: dict[str, str] = {}  # identifier → pseudonym, for those read lately

    def start(self) -> None:
        self._task = asyncio.create_task(self._kjor(), name="innsynslogg")

    @property
    def ventende(self) -> int:
        return len(self._ko)

    def pseudonym(self, person: Fodselsnummer | str) -> str:
        """The same value as `person_pseudonym` on NATS (store.envelope.pseudonym)."""
        if isinstance(person, Fodselsnummer):
            return pseudonym(self._nokkel, person)
        kjent = self._pseudonymer.get(person)
        if kjent is None:
            if len(self._pseudonymer) >= 65536:
                self._pseudonymer.clear()
            kjent = self._pseudonymer[person] = hmac.digest(self._nokkel, person.encode(), hashlib.sha256).hex()
        return kjent

    def registrer(
        self,
        *,
        nav_ident: str,
        roller: Sequence[str],
        endepunkt: str,
        correlation_id: UUID,
        personer: Sequence[tuple[Fodselsnummer | str | None, str | None, UUID | None]],
    ) -> None:
        """Queue one row per (person, aggregat, aggregat_id) shown by one read. No I/O. A case whose person
        is no longer known (erased) shows no personal data and records nothing."""
        personer = [p for p in personer if isinstance(p[0], (Fodselsnummer, str))]
        if not personer:
            return
        if len(self._ko) + len(personer) > self.maks:
            raise ReadLogFull()
        naa = datetime.now(UTC)
        roller_ = tuple(sorted(roller))
        sett: set[tuple[str, str | None, UUID | None]] = set()
        for person, aggregat, aggregat_id in personer:
            nokkel = (self.pseudonym(person), aggregat, aggregat_id)  # type: ignore[arg-type]
            if nokkel in sett:
                continue
            sett.add(nokkel)
            self._ko.append(Innsyn(naa, nav_ident, roller_, nokkel[0], endepunkt, aggregat, aggregat_id, correlation_id))
        if len(self._ko) >= self.batch:
            self._vekk.set()

    async def _kjor(self) -> None:
        while not self._stopper:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._vekk.wait(), self.intervall)
            self._vekk.clear()
            try:
                await self.skriv()
            except DATABASE_UNAVAILABLE as e:
                # The database is down or hung: one line per outage (no traceback), retried with back-off.
                if not self._utilgjengelig:
                    log.warning(
                        "read log: database unavailable; rows kept until it answers",
                        extra={"error": type(e).__name__, "rows": len(self._ko)},
                    )
                self._utilgjengelig = True
                await asyncio.sleep(min(1.0, self.intervall * 10))
            except Exception:  # noqa: BLE001 - the rows stay queued; retried on the next round
                log.exception("read log: write failed; %d rows kept for the next try", len(self._ko))
                await asyncio.sleep(min(1.0, self.intervall * 10))
            else:
                if self._utilgjengelig:
                    log.info("read log: database answers again; queued rows written")
                self._utilgjengelig = False

    async def skriv(self) -> int:
        """Write everything queued now (in batches); the rows stay queued if a write fails."""
        skrevet = 0
        async with self._skrivelaas:
            while self._ko:
                rader = self._ko[: self.batch]
                await self.pool.execute(
                    _INSERT,
                    [r.tidspunkt for r in rader],
                    [r.nav_ident for r in rader],
                    [",".join(r.roller) for r in rader],
                    [r.person_pseudonym for r in rader],
                    [r.endepunkt for r in rader],
                    [r.aggregat for r in rader],
                    [r.aggregat_id for r in rader],
                    [r.correlation_id for r in rader],
                )
                del self._ko[: len(rader)]
                skrevet += len(rader)
        self.skrevet += skrevet
        return skrevet

    async def stopp(self) -> None:
        """Stop the writer and write what is queued (called before the pool closes)."""
        self._stopper = True
        self._vekk.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for forsok in range(3):
            try:
                await self.skriv()
                return
            except Exception:  # noqa: BLE001
                log.exception("read log: final write failed (try %d of 3)", forsok + 1)
                await asyncio.sleep(0.5)
        if self._ko:
            log.error("read log: %d rows could not be stored at shutdown", len(self._ko))


@dataclass(frozen=True, slots=True)
class Side:
    elementer: list[dict[str, Any]]
    neste: str | None


async def les(
    conn: asyncpg.Pool | asyncpg.Connection,
    *,
    etter: str | None,
    antall: int,
    person_pseudonym: str | None = None,
    nav_ident: str | None = None,
    fra: datetime | None = None,
    til: datetime | None = None,
) -> Side:
    """One page of the read log in the order it was written (`nr`); `neste` is the last row's `nr` (null on
    the last page). `fra`/`til` bound `tidspunkt` (inclusive)."""
    args: list[Any] = []
    where: list[str] = []
    if etter is not None:
        if not (etter.isascii() and etter.isdigit()) or len(etter) > 18:
            raise InvalidRequest("etter: not a cursor from `neste`", felt="etter")
        args.append(int(etter))
        where.append(f"nr > ${len(args)}")
    if person_pseudonym is not None:
        args.append(person_pseudonym.lower())
        where.append(f"person_pseudonym = ${len(args)}")
    if nav_ident is not None:
        args.append(nav_ident)
        where.append(f"nav_ident = ${len(args)}")
    for verdi, op, navn in ((fra, ">=", "fra"), (til, "<=", "til")):
        if verdi is None:
            continue
        if verdi.tzinfo is None:
            raise InvalidRequest(f"{navn} must be an instant with an offset (RFC 3339)", felt=navn)
        args.append(verdi)
        where.append(f"tidspunkt {op} ${len(args)}")
    args.append(antall + 1)
    sql = (
        "SELECT nr, tidspunkt, nav_ident, roller, person_pseudonym, endepunkt, aggregat, aggregat_id, "
        f"correlation_id FROM {TABELL} {'WHERE ' + ' AND '.join(where) if where else ''} "
        f"ORDER BY nr LIMIT ${len(args)}"
    )
    rows = await conn.fetch(sql, *args)
    elementer = [dict(r) for r in rows[:antall]]
    neste = str(elementer[-1]["nr"]) if len(rows) > antall else None
    return Side(elementer, neste)
