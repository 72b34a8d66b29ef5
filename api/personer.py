"""`POST /api/v1/personer/oversikt`: a read with the person in the body, never in the URL."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.params import FromQuery

from api import examples
from api.auth import bruker
from api.common import API, ServiceDep
from api.read_log import logg_innsyn
from api.schemas import OversiktCreate
from domain.errors import InvalidRequest
from domain.ident import Fodselsnummer
from store.dto import GarantiVisning, LopVisning


class Oversikt(msgspec.Struct, kw_only=True):
    tiltakslop: list[LopVisning]
    ungdomsgarantier: list[GarantiVisning]


class PersonController(Controller):
    path = f"{API}/personer"
    tags = ["personer"]

    @post(
        "/oversikt", status_code=200, summary="All løp and guarantees of one person (a read)",
        responses=examples.oversikt_svar(Oversikt),
    )
    async def oversikt(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[OversiktCreate, examples.OVERSIKT],
        service: ServiceDep,
        per: FromQuery[date | None] = None,
    ) -> Oversikt:
        if data.person is None or data.person.ident is None:
            raise InvalidRequest("person.ident is required", felt="person")
        lop, garantier = await service.oversikt(Fodselsnummer(data.person.ident), per or service.business_date())
        user = bruker(request)
        # A SAKSBEHANDLER's lists hold only cases of its own offices.
        svar = Oversikt(
            tiltakslop=[x for x in lop if user.has_office(x.nav_enhet)],
            ungdomsgarantier=[x for x in garantier if user.has_office(x.nav_enhet)],
        )
        # One read-log row per case shown; a lookup that shows none is recorded too (without a case).
        ident = data.person.ident
        vist = [(ident, "tiltakslop", x.id) for x in svar.tiltakslop]
        vist += [(ident, "ungdomsgaranti", x.id) for x in svar.ungdomsgarantier]
        logg_innsyn(request, vist or [(ident, None, None)])
        return svar
