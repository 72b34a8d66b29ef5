"""`POST /api/v1/personer/glem`: forget a person (GDPR erasure). SYSTEM only; the person in the body, never
in the URL (identifiers never appear in URLs or logs).

Destroys the key of the person's personal fields (every event, snapshot and view row of them becomes
unreadable at once, while the log still verifies), records `PersonGlemt` on the person record (published
as `forlop.hendelse.person.PersonGlemt` with `data: {"person_pseudonym"}`) and deletes the person's rows
from the views. Idempotent: a repeat answers 200 and records nothing more. Afterwards a read or command on
one of the person's cases answers 410 PERSON_GLEMT; its history shows the personal fields as null with
`glemt: true`; `POST /personer/oversikt` for the person finds nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from api import examples
from api.auth import Role, bruker
from api.common import API, ServiceDep, SettingsDep, context
from api.schemas import OversiktCreate
from domain.errors import InvalidRequest
from domain.ident import Fodselsnummer
from store.envelope import pseudonym

_STI = "/api/v1/personer/glem"
GLEM = examples.body(("One person", {"person": {"ident": examples.PERSON["ident"]}}))


class GlemSvar(msgspec.Struct, kw_only=True):
    glemt: bool
    """Always true: the person is forgotten (now, or already before)."""
    nokkel_odelagt: bool
    """True if this request destroyed a live key; false for a repeat."""
    posisjon: int | None
    """The log position of the `PersonGlemt` tombstone written now; null when nothing more was recorded."""


async def bare_system(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if Role.SYSTEM not in bruker(connection).roller:
        raise PermissionDeniedException("only the SYSTEM role may forget a person")


class GlemController(Controller):
    path = f"{API}/personer"
    tags = ["personer"]

    @post(
        "/glem", status_code=200, guards=[bare_system], summary="Forget a person (GDPR erasure; SYSTEM only)",
        responses={
            **examples.answer_spec(
                200, GlemSvar, "The person is forgotten (now, or already before: a repeat records nothing more).",
                "Forgotten now", {"glemt": True, "nokkel_odelagt": True, "posisjon": 120},
            ),
            **examples.problemer(_STI, 400, 401, 403, 409),
        },
    )
    async def glem(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[OversiktCreate, GLEM],
        service: ServiceDep,
        settings: SettingsDep,
        state: State,
    ) -> GlemSvar:
        if data.person is None or data.person.ident is None:
            raise InvalidRequest("person.ident is required", felt="person")
        person = Fodselsnummer(data.person.ident)
        glemsel = await service.glem(person, context(request), pseudonym(settings.secret("pseudonym"), person))
        await state.oversikt.glem(state.pool, glemsel.person_id)
        return GlemSvar(glemt=True, nokkel_odelagt=glemsel.nokkel_odelagt, posisjon=glemsel.posisjon)
