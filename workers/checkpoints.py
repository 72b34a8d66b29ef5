"""The checkpoint worker: signs the log periodically (store/verification.py describes the checkpoint).

A checkpoint is written when at least `every_events` positions have been added since the last one, or when
`interval` seconds have passed and anything was added. One active replica (workers/supervisor.py); writing is serialised besides (`forlop verify --checkpoint` may write at the same
time). A log whose new events do not hold their links is not signed: the worker logs an error naming them
and tries again at the next round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

import asyncpg

from store import verification
from store.settings import Settings
from workers.supervisor import Session, Supervisor

log = logging.getLogger(__name__)

NAVN = "sjekkpunkt"


@dataclass
class SjekkpunktStatus:
    skrevet: int = 0
    posisjon: int = 0
    siste: float = field(default_factory=time.monotonic)


class CheckpointWorker:
    def __init__(
        self,
        dsn: str,
        signering: bytes,
        *,
        events_table: str = "forlop_events",
        interval: float = 300.0,
        every_events: int = 10_000,
        poll_seconds: float = 5.0,
    ) -> None:
        """`signering` is `settings.secret("signing")`; a checkpoint is written after `every_events` new
        positions, or after `interval` seconds when anything was added."""
        self.dsn = dsn
        self.nokkel = verification.signing_key_from(signering)
        self.events_table = events_table
        self.interval = interval
        self.every_events = every_events
        self.poll_seconds = poll_seconds
        self.status = SjekkpunktStatus()
        self._paused_until = 0.0  # after a refusal (a broken log), try again only after `interval`
        self.supervisor = Supervisor(
            "checkpoint worker", dsn, self._sign_periodically, lock_name=NAVN, poll_seconds=poll_seconds, log=log
        )

    @property
    def active(self) -> bool:
        return self.supervisor.active

    async def run(self, stop: asyncio.Event) -> None:
        await self.supervisor.run(stop)

    async def _sign_periodically(self, session: Session) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            siste = await verification.latest_checkpoint(conn, self.events_table)
            self.status.posisjon = siste.posisjon if siste else 0
            self.status.siste = time.monotonic()
            while not session.stop.is_set():
                if self._due(await conn.fetchval(f'SELECT coalesce(max(notification_id), 0) FROM "{self.events_table}"')):
                    await self.skriv(conn)
                await session.pause(self.poll_seconds)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    def _due(self, hoy: int) -> bool:
        nye = hoy - self.status.posisjon
        naa = time.monotonic()
        return naa >= self._paused_until and (
            nye >= self.every_events or (nye > 0 and naa - self.status.siste >= self.interval)
        )

    async def skriv(self, conn: asyncpg.Connection) -> verification.Sjekkpunkt | None:
        self.status.siste = time.monotonic()
        try:
            sp = await verification.write_checkpoint(conn, self.nokkel, events_table=self.events_table)
        except verification.LogBroken as e:
            log.error(
                "the log does not hold its links; checkpoint not signed",
                extra={"feil": [f"{f.aggregat_id} v{f.versjon}: {f.grunn}" for f in e.feil[:20]]},
            )
            self._paused_until = time.monotonic() + self.interval
            return None
        if sp is not None:
            self.status.skrevet += 1
            self.status.posisjon = sp.posisjon
            log.info("checkpoint signed", extra={"nr": sp.nr, "posisjon": sp.posisjon, "antall": sp.antall})
        return sp


def checkpoint_worker(settings: Settings, dsn: str) -> CheckpointWorker:
    """The worker `forlop up` runs."""
    return CheckpointWorker(dsn, settings.secret("signing"), events_table=settings.events_table)
