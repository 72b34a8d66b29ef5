"""`/api/v1/tiltakslop`: one person's course through one measure (contract.md §2)."""

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
    AnnulleringCreate,
    AvkortingCreate,
    AvslutningCreate,
    ForlengelseCreate,
    KorrigeringCreate,
    MalgruppeCreate,
    OvergangCreate,
    PermisjonCreate,
    PersonCreate,
    TilCreate,
    TilskuddssatsCreate,
    TiltakslopCreate,
    VurderingCreate,
    felter,
)
from domain.errors import InvalidRequest
from store.dto import Forlengelsesmulighet, Historikk, LopVisning
from store.service import Service

Svar = Response[LopVisning]


def _grant(body: TilCreate) -> dict[str, Any]:
    grant = felter(body, utelat=("person", "mottar_uforetrygd"))
    grant["mottar_uforetrygd"] = bool(body.mottar_uforetrygd)
    return grant


def _aware(instant: datetime | None) -> datetime | None:
    if instant is not None and instant.tzinfo is None:
        raise InvalidRequest("kjent_per must be an instant with an offset (RFC 3339)", felt="kjent_per")
    return instant


class TiltakslopController(Controller):
    path = f"{API}/tiltakslop"
    tags = ["tiltakslop"]

    async def _endre(self, request: Request[Any, Any, Any], lop_id: UUID, kommando: str, **felt: Any) -> Svar:
        tjeneste, settings = tjeneste_av(request), innstillinger_av(request)
        kvittering = await tjeneste.endre_lop(
            lop_id,
            kommando,
            kontekst(request),
            forventet_versjon=forventet_versjon(request),
            avtrykk=await avtrykk(request, tjeneste),
            per=i_dag(settings),
            tilgang=bruker(request).sjekk_skriv,
            **felt,
        )
        return svar(kvittering)

    @post("/", guards=[skriver], summary="Grant a løp (TiltakslopInnvilget)", responses=examples.INNVILG_LOP_SVAR,
        operation_class=examples.Opprett,
    )
    async def innvilg(
        self, request: Request[Any, Any, Any], data: Annotated[TiltakslopCreate, examples.INNVILG_LOP]
    ) -> Svar:
        tjeneste, settings = tjeneste_av(request), innstillinger_av(request)
        if isinstance(data.nav_enhet, str):
            bruker(request).sjekk_skriv(data.nav_enhet)  # 403 before any rule is judged
        person = data.person or PersonCreate()
        kvittering = await tjeneste.innvilg_lop(
            kontekst(request, data.nav_enhet),
            avtrykk=await avtrykk(request, tjeneste),
            per=i_dag(settings),
            person=person.ident,
            fodselsdato=person.fodselsdato,
            **_grant(data),
        )
        return svar(kvittering)

    @post(
        "/{lop_id:uuid}/forlengelser", guards=[skriver], summary="Extend (TiltakslopForlenget)", status_code=200,
        responses=examples.FORLENG_SVAR, operation_class=examples.Kommando,
    )
    async def forleng(
        self, request: Request[Any, Any, Any], lop_id: UUID, data: Annotated[ForlengelseCreate, examples.FORLENG],
    ) -> Svar:
        return await self._endre(request, lop_id, "forleng", **felter(data))

    @post(
        "/{lop_id:uuid}/avkorting", guards=[skriver], summary="Shorten (TiltakslopAvkortet)", status_code=200,
        responses=examples.AVKORT_SVAR, operation_class=examples.Kommando,
    )
    async def avkort(
        self, request: Request[Any, Any, Any], lop_id: UUID, data: Annotated[AvkortingCreate, examples.AVKORT],
    ) -> Svar:
        return await self._endre(request, lop_id, "avkort", **felter(data))

    @post(
        "/{lop_id:uuid}/malgruppe", guards=[skriver], summary="Change target group (MalgruppeEndret)", status_code=200,
        responses=examples.MALGRUPPE_SVAR, operation_class=examples.Kommando,
    )
    async def malgruppe(
        self, request: Request[Any, Any, Any], lop_id: UUID, data: Annotated[MalgruppeCreate, examples.MALGRUPPE],
    ) -> Svar:
        return await self._endre(request, lop_id, "endre_malgruppe", **felter(data))

    @post(
        "/{lop_id:uuid}/vurderinger", guards=[skriver], summary="Record a review (OppfolgingsvurderingGjennomfort)", status_code=200,
        responses=examples.VURDERING_SVAR, operation_class=examples.Kommando,
    )
    async def vurdering(
        self, request: Request[Any, Any, Any], lop_id: UUID, data: Annotated[VurderingCreate, examples.VURDERING],
    ) -> Svar:
        return await self._endre(request, lop_id, "registrer_vurdering", **felter(data))

    @post(
        "/{lop_id:uuid}/tilskuddssats", guards=[skriver], summary="Set the subsidy rate (TilskuddssatsFastsatt)", status_code=200,
        responses=examples.TILSKUDDSSATS_SVAR, operation_class=examples.Kommando,
    )
    async def tilskuddssats(
        self, request: Request[Any, Any, Any], lop_id: UUID, data: Annotated[TilskuddssatsCreate, examples.TILSKUDDSSATS],
    ) -> Svar:
        return await self._endre(request, lop_id, "fastsett_sats", **felter(data))

    @post(
        "/{lop_id:uuid}/permisjoner", guards=[skriver], summary="Grant a leave (PermisjonInnvilget)", status_code=200,
        responses=examples.PERMISJON_SVAR, operation_class=examples.Kommando,
    )
    async def permisjon(
        self, request: Request[Any, Any, Any], lop_id: UUID, data: Annotated[PermisjonCreate, examples.PERMISJON],
    ) -> Svar:
        return await self._endre(request, lop_id, "innvilg_permisjon", **felter(data))

    @post(
        "/{lop_id:uuid}/avslutning", guards=[skriver], summary="End the løp (TiltakslopAvsluttet)", status_code=200,
        responses=examples.AVSLUTT_LOP_SVAR, operation_class=examples.Kommando,
    )
    async def avslutt(
        self, request: Request[Any, Any, Any], lop_id: UUID, data: Annotated[AvslutningCreate, examples.AVSLUTT_LOP],
    ) -> Svar:
        return await self._endre(request, lop_id, "avslutt", **felter(data))

    @post(
        "/{lop_id:uuid}/annullering", guards=[skriver], summary="Annul the grant (TiltakslopAnnullert)", status_code=200,
        responses=examples.ANNULLER_SVAR, operation_class=examples.Kommando,
    )
    async def annuller(
        self, request: Request[Any, Any, Any], lop_id: UUID, data: Annotated[AnnulleringCreate, examples.ANNULLER],
    ) -> Svar:
        return await self._endre(request, lop_id, "annuller", **felter(data))

    @post(
        "/{lop_id:uuid}/korrigeringer", guards=[skriver], summary="Correct recorded facts (TiltakslopKorrigert)", status_code=200,
        responses=examples.KORRIGER_LOP_SVAR, operation_class=examples.Kommando,
    )
    async def korriger(
        self, request: Request[Any, Any, Any], lop_id: UUID, data: Annotated[KorrigeringCreate, examples.KORRIGER_LOP],
    ) -> Svar:
        return await self._endre(request, lop_id, "korriger", **felter(data))

    @post(
        "/{lop_id:uuid}/overgang",
        guards=[skriver],
        summary="Transition: end this løp and grant the next atomically; answers with the new løp",
        responses=examples.OVERGANG_SVAR, operation_class=examples.Kommando,
    )
    async def overgang(
        self, request: Request[Any, Any, Any], lop_id: UUID, data: Annotated[OvergangCreate, examples.OVERGANG]
    ) -> Svar:
        tjeneste, settings = tjeneste_av(request), innstillinger_av(request)
        user = bruker(request)
        kvittering = await tjeneste.overgang(
            lop_id,
            kontekst(request),
            sluttdato=data.sluttdato,
            til=_grant(data.til or TilCreate()),
            forventet_versjon=forventet_versjon(request),
            avtrykk=await avtrykk(request, tjeneste),
            per=i_dag(settings),
            tilgang=user.sjekk_skriv,
        )
        return svar(kvittering)

    @get(
        "/{lop_id:uuid}", summary="A løp with its limits and deadlines for a business date",
        responses=examples.HENT_LOP_SVAR,
    )
    async def hent(
        self,
        request: Request[Any, Any, Any],
        lop_id: UUID,
        per: date | None = None,
        versjon: int | None = Parameter(default=None, ge=1, le=2**63 - 1),  # a bigint in the store
        kjent_per: datetime | None = None,
    ) -> Svar:
        visning = await tjeneste_av(request).les(
            lop_id, "tiltakslop", per or i_dag(innstillinger_av(request)), versjon=versjon, kjent_per=_aware(kjent_per)
        )
        bruker(request).sjekk_les(visning.nav_enhet)
        logg_innsyn(request, [(visning.person.ident, "tiltakslop", lop_id)])
        return les_svar(visning)

    @get(
        "/{lop_id:uuid}/historikk", summary="Every event of the løp, with actor, reason and hash-chain link",
        responses=examples.LOP_HISTORIKK_SVAR,
    )
    async def historikk(
        self, request: Request[Any, Any, Any], lop_id: UUID, tjeneste: Service
    ) -> Response[Historikk]:
        historikk, lop = await tjeneste.historikk_og_aggregat(lop_id, "tiltakslop")
        bruker(request).sjekk_les(lop.nav_enhet)
        logg_innsyn(request, [(lop.person, "tiltakslop", lop_id)])
        return Response(content=historikk, headers={"ETag": f'"{lop.version}"'})

    @get(
        "/{lop_id:uuid}/forlengelse",
        summary="What-if: the extension reasons allowed now and how far each reaches",
        responses=examples.FORLENGELSE_SVAR,
    )
    async def forlengelse(
        self, request: Request[Any, Any, Any], lop_id: UUID, tjeneste: Service
    ) -> Response[Forlengelsesmulighet]:
        mulighet, enhet, versjon = await tjeneste.forlengelse(lop_id)
        bruker(request).sjekk_les(enhet)
        return Response(content=mulighet, headers={"ETag": f'"{versjon}"'})
