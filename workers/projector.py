"""A projection runner (projections/runner.py) as a worker: one active replica under the supervisor."""

from __future__ import annotations

import asyncio
import logging

from projections.runner import Projection, Runner, Status
from workers.supervisor import Supervisor

log = logging.getLogger(__name__)


class Projector:
    def __init__(
        self,
        dsn: str,
        projeksjon: Projection,
        *,
        events_table: str = "forlop_events",
        batch: int = 500,
        poll_seconds: float = 1.0,
    ) -> None:
        self.runner = Runner(dsn, projeksjon, events_table=events_table, batch=batch, poll_seconds=poll_seconds)
        self.supervisor = Supervisor(
            f"projection runner {projeksjon.navn}",
            dsn,
            self.runner.follow,
            lock_name=f"projeksjon.{projeksjon.navn}",
            poll_seconds=poll_seconds,
            log=log,
        )

    @property
    def status(self) -> Status:
        return self.runner.status

    @property
    def active(self) -> bool:
        return self.supervisor.active

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set: standby until the lock is ours, then follow the log."""
        await self.supervisor.run(stop)
