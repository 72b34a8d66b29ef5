"""Audit reads (contract.md §2): `GET /api/v1/revisjon/*` (REVISOR only; SYSTEM may not) and the global event
feed `GET /api/v1/hendelser` (REVISOR and SYSTEM).

`RevisjonController` carries the REVISOR guard for the whole `/revisjon` path: add further audit reads
(e.g. `/innsyn`) as methods on it, or as another controller with `guards=[revisor]`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from eventsourcing.persistence import Notification
from litestar import Controller, get
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Parameter

from api import examples
from api.auth import Role, bruker
from api.common import API, SettingsDep
from store import verification
from store.envelope import AGGREGATER, TOMBSTONE_TOPIC, Envelope, make_envelope
from store.mapper import ForlopMapper

MAKS_FEIL = 1000  # failures listed in one answer (`antall_lenkefeil` counts them all)


async def revisor(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of `/revisjon/*`: REVISOR only (SYSTEM reads everything else, but not this)."""
    if Role.REVISOR not in bruker(connection).roller:
        raise PermissionDeniedException("only REVISOR may use /revisjon")


async def leser_alt(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of the global feed: REVISOR and SYSTEM."""
    if not bruker(connection).sees_all:
        raise PermissionDeniedException("only REVISOR and SYSTEM may read the global event feed")


class RevisjonController(Controller):
    path = f"{API}/revisjon"
    tags = ["revisjon"]
    guards = [revisor]

    @get(
        "/verifisering",
        summary="Check every stream's hash chain and every signed checkpoint of the log",
        description=(
            "Walks the whole log (or one stream with `aggregat_id`): names every event whose link does not hold "
            "and every checkpoint that fails (bad signature, altered checkpoint, or a log that no longer hashes "
            "to what was signed). A whole log takes seconds per million events. The checkpoint format and "
            "signature (Ed25519) are described in store/verification.py; `offentlig_nokkel` verifies them."
        ),
        responses=examples.verifisering_svar(verification.Verification),
    )
    async def verifisering(
        self,
        state: State,
        settings: SettingsDep,
        aggregat_id: UUID | None = Parameter(default=None, description="one stream only (no checkpoints)"),
    ) -> verification.Verification:
        offentlig = verification.signing_key_from(settings.secret("signing")).public_key()
        async with state.pool.acquire() as conn:
            return await verification.verify_log(
                conn, offentlig, events_table=settings.events_table, stream=aggregat_id, maks_feil=MAKS_FEIL
            )


class HendelseSide(msgspec.Struct, kw_only=True):
    """Envelopes (contract.md §3) in log order; `neste` is always the position to ask after next."""

    elementer: list[Envelope]
    neste: int


def _like(tekst: str) -> str:
    return tekst.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The published events' topics: the two public aggregates' (by prefix) and the erasure tombstone.
_MONSTRE = [_like(p) + "%" for p in AGGREGATER] + [_like(TOMBSTONE_TOPIC)]


async def hendelser(
    conn: asyncpg.Connection | asyncpg.Pool,
    mapper: ForlopMapper,
    events_table: str,
    pseudonym_nokkel: bytes,
    etter: int,
    antall: int,
) -> HendelseSide:
    """One page of the published aggregates' events after position `etter`. One statement (one snapshot):
    the page, and the highest position in the log. By the store's ordering protocol no event will ever
    appear at or below that position later, so when the page is not full `neste` moves past the positions
    of unpublished events and of gaps up to it."""
    rows = await conn.fetch(
        f"""SELECT * FROM (
                (SELECT 0 AS k, notification_id, originator_id, originator_version, topic, state
                 FROM "{events_table}" WHERE notification_id > $1 AND topic LIKE ANY($2::text[])
                 ORDER BY notification_id LIMIT $3)
                UNION ALL
                SELECT 1, max(notification_id), NULL, NULL, NULL, NULL FROM "{events_table}"
            ) s ORDER BY k, notification_id""",
        etter, _MONSTRE, antall,
    )
    *side, siste = rows
    hoy = siste[1]
    notifikasjoner = [
        Notification(id=r[1], originator_id=r[2], originator_version=r[3], topic=r[4], state=bytes(r[5]))
        for r in side
    ]
    await mapper.prepare_reading(conn, (n.state for n in notifikasjoner))  # keys of encrypted fields
    elementer = []
    for n in notifikasjoner:
        k = make_envelope(mapper, n, pseudonym_nokkel)
        if k is not None:
            elementer.append(k)
    neste = side[-1][1] if len(side) == antall else max(etter, hoy or 0)
    return HendelseSide(elementer=elementer, neste=neste)


class HendelseController(Controller):
    path = f"{API}/hendelser"
    tags = ["hendelser"]
    guards = [leser_alt]

    @get(
        "/",
        summary="The global, gap-tolerant ordered event feed (the NATS envelopes of contract.md §3)",
        responses=examples.hendelser_svar(HendelseSide),
    )
    async def hendelser(
        self,
        state: State,
        settings: SettingsDep,
        etter: int = Parameter(default=0, ge=0, le=2**63 - 1, description="the `neste` of the previous page (0: from the start)"),
        antall: int = Parameter(default=100, ge=1, le=1000),
    ) -> HendelseSide:
        return await hendelser(
            state.pool, state.oversikt.mapper, settings.events_table, settings.secret("pseudonym"), etter, antall
        )
