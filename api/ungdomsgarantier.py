"""`/api/v1/ungdomsgarantier`: the youth guarantee (contract.md §2, rules.md §5).

Each command route decodes its body once into the command (`api.common.StrictRequest`), hands it to its use case in
`store.service.Service`, and answers with the guarantee's new state."""

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
from api.tiltakslop import aware
from domain.commands import (
    AvsluttGaranti,
    InnvilgGaranti,
    KobleAktivitet,
    KorrigerGaranti,
    RegistrerSamtale,
    TildelKontaktperson,
)
from store.dto import GarantiVisning, Historikk

Answer = Response[GarantiVisning]
Id = FromPath[UUID]


def _command(path: str, summary: str, responses: Any) -> Any:
    """The decorator of a command on one guarantee: the writers' guard, 200 with the new state."""
    return post(
        path, guards=[skriver], summary=summary, status_code=200, responses=responses,
        operation_class=examples.Kommando,
    )  # fmt: skip


class UngdomsgarantiController(Controller):
    path = f"{API}/ungdomsgarantier"
    tags = ["ungdomsgarantier"]

    @post(
        "/", guards=[skriver], summary="Include a young person in the guarantee (UngdomsgarantiInnvilget)",
        responses=examples.INNVILG_GARANTI_SVAR, operation_class=examples.Opprett,
    )  # fmt: skip
    async def innvilg(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[InnvilgGaranti, examples.INNVILG_GARANTI],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.innvilg_garanti(data, command_context(request, service)))

    @_command(
        "/{garanti_id:uuid}/kontaktperson",
        "Assign or change the contact person (KontaktpersonTildelt / KontaktpersonByttet)",
        examples.KONTAKTPERSON_SVAR,
    )
    async def kontaktperson(
        self,
        request: Request[Any, Any, Any],
        garanti_id: Id,
        data: Annotated[TildelKontaktperson, examples.KONTAKTPERSON],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.tildel_kontaktperson(garanti_id, data, command_context(request, service)))

    @_command("/{garanti_id:uuid}/samtaler", "Record a follow-up conversation", examples.SAMTALE_SVAR)
    async def samtale(
        self,
        request: Request[Any, Any, Any],
        garanti_id: Id,
        data: Annotated[RegistrerSamtale, examples.SAMTALE],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.registrer_samtale(garanti_id, data, command_context(request, service)))

    @_command("/{garanti_id:uuid}/aktiviteter", "Link an activity (AktivitetKoblet)", examples.AKTIVITET_SVAR)
    async def aktivitet(
        self,
        request: Request[Any, Any, Any],
        garanti_id: Id,
        data: Annotated[KobleAktivitet, examples.AKTIVITET],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.koble_aktivitet(garanti_id, data, command_context(request, service)))

    @_command(
        "/{garanti_id:uuid}/avslutning",
        "End the guarantee (UngdomsgarantiAvsluttet)",
        examples.AVSLUTT_GARANTI_SVAR,
    )
    async def avslutt(
        self,
        request: Request[Any, Any, Any],
        garanti_id: Id,
        data: Annotated[AvsluttGaranti, examples.AVSLUTT_GARANTI],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.avslutt_garanti(garanti_id, data, command_context(request, service)))

    @_command("/{garanti_id:uuid}/korrigeringer", "Correct recorded facts", examples.KORRIGER_GARANTI_SVAR)
    async def korriger(
        self,
        request: Request[Any, Any, Any],
        garanti_id: Id,
        data: Annotated[KorrigerGaranti, examples.KORRIGER_GARANTI],
        service: ServiceDep,
    ) -> Answer:
        return answer(await service.korriger_garanti(garanti_id, data, command_context(request, service)))

    @get(
        "/{garanti_id:uuid}",
        summary="A guarantee with its contact person, conversations and alerts",
        responses=examples.HENT_GARANTI_SVAR,
    )
    async def hent(
        self,
        request: Request[Any, Any, Any],
        garanti_id: Id,
        service: ServiceDep,
        per: FromQuery[date | None] = None,
        versjon: int | None = Parameter(default=None, ge=1, le=2**63 - 1),  # a bigint in the store
        kjent_per: FromQuery[datetime | None] = None,
    ) -> Answer:
        visning = await office_first(request, service, garanti_id, service.read_garanti(
            garanti_id, per or service.business_date(), versjon=versjon, kjent_per=aware(kjent_per)
        ))  # fmt: skip
        bruker(request).check_read(visning.nav_enhet)
        logg_innsyn(request, [(visning.person.ident, "ungdomsgaranti", garanti_id)])
        return read_answer(visning)

    @get(
        "/{garanti_id:uuid}/historikk",
        summary="Every event of the guarantee",
        responses=examples.GARANTI_HISTORIKK_SVAR,
    )
    async def historikk(
        self, request: Request[Any, Any, Any], garanti_id: Id, service: ServiceDep
    ) -> Response[Historikk]:
        historikk, garanti = await office_first(
            request, service, garanti_id, service.history(garanti_id, "ungdomsgaranti")
        )
        bruker(request).check_read(garanti.nav_enhet)
        logg_innsyn(request, [(garanti.person, "ungdomsgaranti", garanti_id)])
        return Response(content=historikk, headers={"ETag": f'"{garanti.version}"'})
