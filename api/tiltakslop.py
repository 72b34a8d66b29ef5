"""`/api/v1/tiltakslop`: one person's course through one measure (contract.md §2).

Each command route decodes its body once into the command (`api.common.StrictRequest`), hands it to its use case in
`store.service.Service`, and answers with the løp's new state."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, Parameter

from api import examples
from api.auth import bruker, skriver
from api.common import (
    API,
    ServiceDep,
    answer,
    command_context,
    office_first,
    read_answer,
)
from api.read_log import logg_innsyn
from domain.commands import (
    Annuller,
    Avkort,
    AvsluttLop,
    EndreMalgruppe,
    FastsettSats,
    Forleng,
    InnvilgLop,
    InnvilgPermisjon,
    KorrigerLop,
    Overgang,
    RegistrerVurdering,
)
from domain.errors import InvalidRequest
from store.dto import Forlengelsesmulighet, Historikk, LopVisning

Answer = Response[LopVisning]
Id = FromPath[UUID]


def aware(instant: datetime | None) -> datetime | None:
    if instant is not None and instant.tzinfo is None:
        raise InvalidRequest("kjent_per must be an instant with an offset (RFC 3339)", felt="kjent_per")
    return instant


def _command(path: str, summary: str, responses: Any) -> Any:
    """The decorator of a command on one løp: the writers' guard, 200 with the new state, the headers it reads."""
    return post(
        path, guards=[skriver], summary=summary, status_code=200, responses=responses,
        operation_class=examples.Kommando,
    )  # fmt: skip


class TiltakslopController(Controller):
    path = f"{API}/tiltakslop"
    tags = ["tiltakslop"]

    @post(
        "/", guards=[skriver], summary="Grant a løp (TiltakslopInnvilget)", responses=examples.INNVILG_LOP_SVAR,
        operation_class=examples.Opprett,
    )  # fmt: skip
    async def innvilg(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[InnvilgLop, examples.INNVILG_LOP],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.innvilg_lop(data, command_context(request, service)))

    @_command("/{lop_id:uuid}/forlengelser", "Extend (TiltakslopForlenget)", examples.FORLENG_SVAR)
    async def forleng(
        self,
        request: Request[Any, Any, Any],
        lop_id: Id,
        data: Annotated[Forleng, examples.FORLENG],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.forleng(lop_id, data, command_context(request, service)))

    @_command("/{lop_id:uuid}/avkorting", "Shorten (TiltakslopAvkortet)", examples.AVKORT_SVAR)
    async def avkort(
        self,
        request: Request[Any, Any, Any],
        lop_id: Id,
        data: Annotated[Avkort, examples.AVKORT],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.avkort(lop_id, data, command_context(request, service)))

    @_command("/{lop_id:uuid}/malgruppe", "Change target group (MalgruppeEndret)", examples.MALGRUPPE_SVAR)
    async def malgruppe(
        self,
        request: Request[Any, Any, Any],
        lop_id: Id,
        data: Annotated[EndreMalgruppe, examples.MALGRUPPE],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.endre_malgruppe(lop_id, data, command_context(request, service)))

    @_command(
        "/{lop_id:uuid}/vurderinger",
        "Record a review (OppfolgingsvurderingGjennomfort)",
        examples.VURDERING_SVAR,
    )
    async def vurdering(
        self,
        request: Request[Any, Any, Any],
        lop_id: Id,
        data: Annotated[RegistrerVurdering, examples.VURDERING],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.registrer_vurdering(lop_id, data, command_context(request, service)))

    @_command(
        "/{lop_id:uuid}/tilskuddssats",
        "Set the subsidy rate (TilskuddssatsFastsatt)",
        examples.TILSKUDDSSATS_SVAR,
    )
    async def tilskuddssats(
        self,
        request: Request[Any, Any, Any],
        lop_id: Id,
        data: Annotated[FastsettSats, examples.TILSKUDDSSATS],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.fastsett_sats(lop_id, data, command_context(request, service)))

    @_command("/{lop_id:uuid}/permisjoner", "Grant a leave (PermisjonInnvilget)", examples.PERMISJON_SVAR)
    async def permisjon(
        self,
        request: Request[Any, Any, Any],
        lop_id: Id,
        data: Annotated[InnvilgPermisjon, examples.PERMISJON],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.innvilg_permisjon(lop_id, data, command_context(request, service)))

    @_command("/{lop_id:uuid}/avslutning", "End the løp (TiltakslopAvsluttet)", examples.AVSLUTT_LOP_SVAR)
    async def avslutt(
        self,
        request: Request[Any, Any, Any],
        lop_id: Id,
        data: Annotated[AvsluttLop, examples.AVSLUTT_LOP],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.avslutt_lop(lop_id, data, command_context(request, service)))

    @_command("/{lop_id:uuid}/annullering", "Annul the grant (TiltakslopAnnullert)", examples.ANNULLER_SVAR)
    async def annuller(
        self,
        request: Request[Any, Any, Any],
        lop_id: Id,
        data: Annotated[Annuller, examples.ANNULLER],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.annuller(lop_id, data, command_context(request, service)))

    @_command(
        "/{lop_id:uuid}/korrigeringer",
        "Correct recorded facts (TiltakslopKorrigert)",
        examples.KORRIGER_LOP_SVAR,
    )
    async def korriger(
        self,
        request: Request[Any, Any, Any],
        lop_id: Id,
        data: Annotated[KorrigerLop, examples.KORRIGER_LOP],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.korriger_lop(lop_id, data, command_context(request, service)))

    @post(
        "/{lop_id:uuid}/overgang", guards=[skriver],
        summary="Transition: end this løp and grant the next atomically; answers with the new løp",
        responses=examples.OVERGANG_SVAR, operation_class=examples.Kommando,
    )  # fmt: skip
    async def overgang(
        self,
        request: Request[Any, Any, Any],
        lop_id: Id,
        data: Annotated[Overgang, examples.OVERGANG],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.overgang(lop_id, data, command_context(request, service)))

    @get(
        "/{lop_id:uuid}",
        summary="A løp with its limits and deadlines for a business date",
        responses=examples.HENT_LOP_SVAR,
    )
    async def hent(
        self,
        request: Request[Any, Any, Any],
        lop_id: Id,
        service: ServiceDep,
        per: FromQuery[date | None] = None,
        versjon: int | None = Parameter(default=None, ge=1, le=2**63 - 1),  # a bigint in the store
        kjent_per: FromQuery[datetime | None] = None,
    ) -> Answer:
        visning = await office_first(request, service, lop_id, service.read_lop(
            lop_id, per or service.business_date(), versjon=versjon, kjent_per=aware(kjent_per)
        ))  # fmt: skip
        bruker(request).check_read(visning.nav_enhet)
        logg_innsyn(request, [(visning.person.ident, "tiltakslop", lop_id)])
        return read_answer(visning)

    @get(
        "/{lop_id:uuid}/historikk",
        summary="Every event of the løp, with actor, reason and hash-chain link",
        responses=examples.LOP_HISTORIKK_SVAR,
    )
    async def historikk(
        self, request: Request[Any, Any, Any], lop_id: Id, service: ServiceDep
    ) -> Response[Historikk]:
        historikk, lop = await office_first(request, service, lop_id, service.history(lop_id, "tiltakslop"))
        bruker(request).check_read(lop.nav_enhet)
        logg_innsyn(request, [(lop.person, "tiltakslop", lop_id)])
        return Response(content=historikk, headers={"ETag": f'"{lop.version}"'})

    @get(
        "/{lop_id:uuid}/forlengelse",
        summary="What-if: the extension reasons allowed now and how far each reaches",
        responses=examples.FORLENGELSE_SVAR,
    )
    async def forlengelse(
        self, request: Request[Any, Any, Any], lop_id: Id, service: ServiceDep
    ) -> Response[Forlengelsesmulighet]:
        mulighet, enhet, versjon = await office_first(request, service, lop_id, service.forlengelse(lop_id))
        bruker(request).check_read(enhet)
        return Response(content=mulighet, headers={"ETag": f'"{versjon}"'})
