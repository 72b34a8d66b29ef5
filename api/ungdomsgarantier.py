"""`/api/v1/ungdomsgarantier`: the youth guarantee (contract.md §2, rules.md §5)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from api import examples
from api.auth import bruker, skriver
from api.common import (
    API,
    avtrykk,
    forventet_versjon,
    i_dag,
    innstillinger_av,
    kontekst,
    les_svar,
    svar,
    tjeneste_av,
)
from api.read_log import logg_innsyn
from api.schemas import (
    AktivitetCreate,
    GarantiAvslutningCreate,
    GarantiKorrigeringCreate,
    KontaktpersonCreate,
    PersonCreate,
    SamtaleCreate,
    UngdomsgarantiCreate,
    felter,
)
from api.tiltakslop import _aware
from store.dto import GarantiVisning, Historikk
from store.service import Service
from store.settings import Settings

Svar = Response[GarantiVisning]


class UngdomsgarantiController(Controller):
    path = f"{API}/ungdomsgarantier"
    tags = ["ungdomsgarantier"]

    async def _endre(
        self, request: Request[Any, Any, Any], tjeneste: Service, settings: Settings, garanti_id: UUID,
        kommando: str, **felt: Any,
    ) -> Svar:
        kvittering = await tjeneste.endre_garanti(
            garanti_id,
            kommando,
            kontekst(request),
            forventet_versjon=forventet_versjon(request),
            avtrykk=await avtrykk(request, tjeneste),
            per=i_dag(settings),
            tilgang=bruker(request).sjekk_skriv,
            **felt,
        )
        return svar(kvittering)

    @post(
        "/", guards=[skriver], summary="Include a young person in the guarantee (UngdomsgarantiInnvilget)",
        responses=examples.INNVILG_GARANTI_SVAR, operation_class=examples.Opprett,
    )
    async def innvilg(
        self, request: Request[Any, Any, Any], data: Annotated[UngdomsgarantiCreate, examples.INNVILG_GARANTI],
        tjeneste: Service, settings: Settings,
    ) -> Svar:
        if isinstance(data.nav_enhet, str):
            bruker(request).sjekk_skriv(data.nav_enhet)  # 403 before any rule is judged
        person = data.person or PersonCreate()
        kvittering = await tjeneste.innvilg_garanti(
            kontekst(request, data.nav_enhet),
            avtrykk=await avtrykk(request, tjeneste),
            per=i_dag(settings),
            person=person.ident,
            fodselsdato=person.fodselsdato,
            **felter(data, utelat=("person",)),
        )
        return svar(kvittering)

    @post(
        "/{garanti_id:uuid}/kontaktperson",
        guards=[skriver],
        summary="Assign or change the contact person (KontaktpersonTildelt / KontaktpersonByttet)",
        status_code=200,
        responses=examples.KONTAKTPERSON_SVAR, operation_class=examples.Kommando,
    )
    async def kontaktperson(
        self, request: Request[Any, Any, Any], garanti_id: UUID, data: Annotated[KontaktpersonCreate, examples.KONTAKTPERSON],
        tjeneste: Service, settings: Settings,
    ) -> Svar:
        return await self._endre(request, tjeneste, settings, garanti_id, "tildel_kontaktperson", **felter(data))

    @post(
        "/{garanti_id:uuid}/samtaler", guards=[skriver], summary="Record a follow-up conversation", status_code=200,
        responses=examples.SAMTALE_SVAR, operation_class=examples.Kommando,
    )
    async def samtale(
        self, request: Request[Any, Any, Any], garanti_id: UUID, data: Annotated[SamtaleCreate, examples.SAMTALE],
        tjeneste: Service, settings: Settings,
    ) -> Svar:
        return await self._endre(request, tjeneste, settings, garanti_id, "registrer_samtale", **felter(data))

    @post(
        "/{garanti_id:uuid}/aktiviteter", guards=[skriver], summary="Link an activity (AktivitetKoblet)",
        status_code=200, responses=examples.AKTIVITET_SVAR, operation_class=examples.Kommando,
    )
    async def aktivitet(
        self, request: Request[Any, Any, Any], garanti_id: UUID, data: Annotated[AktivitetCreate, examples.AKTIVITET],
        tjeneste: Service, settings: Settings,
    ) -> Svar:
        return await self._endre(request, tjeneste, settings, garanti_id, "koble_aktivitet", **felter(data))

    @post(
        "/{garanti_id:uuid}/avslutning", guards=[skriver], summary="End the guarantee (UngdomsgarantiAvsluttet)",
        status_code=200, responses=examples.AVSLUTT_GARANTI_SVAR, operation_class=examples.Kommando,
    )
    async def avslutt(
        self, request: Request[Any, Any, Any], garanti_id: UUID, data: Annotated[GarantiAvslutningCreate, examples.AVSLUTT_GARANTI],
        tjeneste: Service, settings: Settings,
    ) -> Svar:
        return await self._endre(request, tjeneste, settings, garanti_id, "avslutt", **felter(data))

    @post(
        "/{garanti_id:uuid}/korrigeringer", guards=[skriver], summary="Correct recorded facts", status_code=200,
        responses=examples.KORRIGER_GARANTI_SVAR, operation_class=examples.Kommando,
    )
    async def korriger(
        self, request: Request[Any, Any, Any], garanti_id: UUID,
        data: Annotated[GarantiKorrigeringCreate, examples.KORRIGER_GARANTI], tjeneste: Service, settings: Settings,
    ) -> Svar:
        return await self._endre(request, tjeneste, settings, garanti_id, "korriger", **felter(data))

    @get(
        "/{garanti_id:uuid}", summary="A guarantee with its contact person, conversations and alerts",
        responses=examples.HENT_GARANTI_SVAR,
    )
    async def hent(
        self,
        request: Request[Any, Any, Any],
        garanti_id: UUID,
        per: date | None = None,
        versjon: int | None = Parameter(default=None, ge=1, le=2**63 - 1),  # a bigint in the store
        kjent_per: datetime | None = None,
    ) -> Svar:
        visning = await tjeneste_av(request).les(
            garanti_id, "ungdomsgaranti", per or i_dag(innstillinger_av(request)), versjon=versjon, kjent_per=_aware(kjent_per)
        )
        bruker(request).sjekk_les(visning.nav_enhet)
        logg_innsyn(request, [(visning.person.ident, "ungdomsgaranti", garanti_id)])
        return les_svar(visning)

    @get(
        "/{garanti_id:uuid}/historikk", summary="Every event of the guarantee",
        responses=examples.GARANTI_HISTORIKK_SVAR,
    )
    async def historikk(
        self, request: Request[Any, Any, Any], garanti_id: UUID, tjeneste: Service
    ) -> Response[Historikk]:
        historikk, garanti = await tjeneste.historikk_og_aggregat(garanti_id, "ungdomsgaranti")
        bruker(request).sjekk_les(garanti.nav_enhet)
        logg_innsyn(request, [(garanti.person, "ungdomsgaranti", garanti_id)])
        return Response(content=historikk, headers={"ETag": f'"{garanti.version}"'})
