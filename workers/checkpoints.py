"""The checkpoint worker: signs the log periodically (store/verification.py describes the checkpoint).

A checkpoint is written when at least `hendelser` positions have been added since the last one, or when
`intervall` seconds have passed and anything was added. One active replica (a PostgreSQL advisory lock on a
connection of its own); writing is serialised besides (`forlop verify --checkpoint` may write at the same
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
from store.locks import ta_laas, vent
from store.settings import Settings

log = logging.getLogger(__name__)

NAVN = "sjekkpunkt"


@dataclass
class SjekkpunktStatus:
    aktiv: bool = False
    skrevet: int = 0
    posisjon: int = 0
    siste: float = field(default_factory=time.monotonic)


class Sjekkpunktarbeider:
    def __init__(
        self,
        dsn: str,
        signering: bytes,
        *,
        events_table: str = "forlop_events",
        intervall: float = 300.0,
        hendelser: int = 10_000,
        poll_sekunder: float = 5.0,
    ) -> None:
        """`signering` is `settings.secret("signing")`."""
        self.dsn = dsn
        self.nokkel = verification.signeringsnokkel(signering)
        self.events_table = events_table
        self.intervall = intervall
        self.hendelser = hendelser
        self.poll_sekunder = poll_sekunder
        self.status = SjekkpunktStatus()
        self._pause_til = 0.0  # after a refusal (a broken log), try again only after `intervall`

    async def kjor(self, stopp: asyncio.Event) -> None:
        while not stopp.is_set():
            try:
                await self._som_aktiv(stopp)
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as e:
                log.warning("checkpoint worker lost its database connection", extra={"error": str(e)})
                await vent(stopp, self.poll_sekunder)
            except Exception:  # a worker must never die silently: log, pause, try again
                log.exception("checkpoint worker failed; retrying")
                await vent(stopp, self.poll_sekunder)
        self.status.aktiv = False

    async def _som_aktiv(self, stopp: asyncio.Event) -> None:
        laas = await ta_laas(self.dsn, NAVN, stopp, self.poll_sekunder)
        if laas is None:
            return
        conn = await asyncpg.connect(self.dsn)
        try:
            self.status.aktiv = True
            siste = await verification.siste_sjekkpunkt(conn, self.events_table)
            self.status.posisjon = siste.posisjon if siste else 0
            self.status.siste = time.monotonic()
            while not stopp.is_set():
                if laas.is_closed():
                    raise asyncpg.InterfaceError("the lock connection is closed")
                hoy = await conn.fetchval(f'SELECT coalesce(max(notification_id), 0) FROM "{self.events_table}"')
                nye = hoy - self.status.posisjon
                naa = time.monotonic()
                if naa >= self._pause_til and (
                    nye >= self.hendelser or (nye > 0 and naa - self.status.siste >= self.intervall)
                ):
                    await self.skriv(conn)
                await vent(stopp, self.poll_sekunder)
        finally:
            self.status.aktiv = False
            with contextlib.suppress(Exception):
                await conn.close()
            with contextlib.suppress(Exception):
                await laas.close()

    async def skriv(self, conn: asyncpg.Connection) -> verification.Sjekkpunkt | None:
        self.status.siste = time.monotonic()
        try:
            sp = await verification.skriv_sjekkpunkt(conn, self.nokkel, events_table=self.events_table)
        except verification.LogBroken as e:
            log.error(
                "the log does not hold its links; checkpoint not signed",
                extra={"feil": [f"{f.aggregat_id} v{f.versjon}: {f.grunn}" for f in e.feil[:20]]},
            )
            self._pause_til = time.monotonic() + self.intervall
            return None
        if sp is not None:
            self.status.skrevet += 1
            self.status.posisjon = sp.posisjon
            log.info("checkpoint signed", extra={"nr": sp.nr, "posisjon": sp.posisjon, "antall": sp.antall})
        return sp


def sjekkpunktarbeider(settings: Settings, dsn: str, **kwargs: object) -> Sjekkpunktarbeider:
    """The worker `forlop up` runs."""
    return Sjekkpunktarbeider(
        dsn, settings.secret("signing"), events_table=settings.events_table, **kwargs  # type: ignore[arg-type]
    )
