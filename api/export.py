"""`GET …/historikk/eksport?format=json|html`: a case's history for archiving or printing.

`format=json` (the default) is exactly the body of `GET …/historikk`; `format=html` is one self-contained,
printable page (inline stylesheet with a print variant, no script, no external assets) with one table of the
events: version, type and schema version, recorded instant, actor, reason, rule set, the event's data,
correlation id and hash-chain link. Every value is HTML-escaped. Both come as an attachment. Access is that
of the history (REVISOR and SYSTEM see all, a SAKSBEHANDLER its own offices), and the read is recorded in
the read log like the history itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get
from litestar.params import FromPath, Parameter

from api import examples
from api.auth import bruker
from api.common import API, ServiceDep, office_first
from api.read_log import logg_innsyn
from store.dto import Historikk
from store.service import Service

Format = Literal["json", "html"]
_TITTEL = {"tiltakslop": "Tiltaksløp", "ungdomsgaranti": "Ungdomsgaranti"}

_CSS = """
:root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a; }
body { margin: 2rem; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: .15rem 1rem; margin: .5rem 0 1.5rem; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; }
th, td { border: 1px solid #999; padding: .3rem .45rem; text-align: left; vertical-align: top; }
th { background: #eee; }
td.data { font-family: ui-monospace, Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-word; }
td.lenke, td.id { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .7rem; word-break: break-all; }
@media print {
  body { margin: 0; }
  @page { size: A4 landscape; margin: 12mm; }
  table { font-size: 8pt; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  th { background: none; }
}
"""


def _e(verdi: Any) -> str:
    """Escape any value for HTML text and attributes (None shows as an em dash)."""
    if verdi is None:
        return "—"
    return escape(str(verdi), quote=True)


def _data(data: dict[str, Any]) -> str:
    return _e(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True, default=str))


def html_side(historikk: Historikk, *, eksportert: datetime, av: str) -> str:
    """The printable page of one history (every value escaped; no external assets)."""
    b = msgspec.to_builtins(historikk)
    tittel = f"{_TITTEL.get(historikk.aggregat, historikk.aggregat)} {historikk.aggregat_id}: historikk"
    rader = []
    for h in b["elementer"]:
        aktor = h["aktor"]
        rader.append(
            "<tr>"
            f"<td>{_e(h['versjon'])}</td>"
            f"<td>{_e(h['type'])}<br><small>skjema v{_e(h['skjema_versjon'])}</small></td>"
            f"<td>{_e(h['registrert'])}</td>"
            f"<td>{_e(aktor['nav_ident'])}<br><small>enhet {_e(aktor['enhet'])}</small></td>"
            f"<td>{_e(h['begrunnelse'])}</td>"
            f"<td>{_e(h['regelsett_id'])}</td>"
            f"<td class=\"data\">{_data(h['data'])}</td>"
            f"<td class=\"id\">{_e(h['correlation_id'])}</td>"
            f"<td class=\"lenke\">{_e(h['lenke'])}</td>"
            "</tr>"
        )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="nb">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(tittel)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{_e(tittel)}</h1>\n"
        '<dl class="meta">'
        f"<dt>Aggregat</dt><dd>{_e(historikk.aggregat)}</dd>"
        f"<dt>Id</dt><dd>{_e(historikk.aggregat_id)}</dd>"
        f"<dt>Hendelser</dt><dd>{len(rader)}</dd>"
        f"<dt>Eksportert</dt><dd>{_e(eksportert.isoformat())}</dd>"
        f"<dt>Eksportert av</dt><dd>{_e(av)}</dd>"
        "</dl>\n"
        "<table>\n<thead><tr>"
        "<th>Versjon</th><th>Hendelse</th><th>Registrert</th><th>Aktør</th><th>Begrunnelse</th>"
        "<th>Regelsett</th><th>Data</th><th>Correlation id</th><th>Lenke (SHA-256)</th>"
        "</tr></thead>\n<tbody>\n"
        + "\n".join(rader)
        + "\n</tbody>\n</table>\n</body>\n</html>\n"
    )


async def eksport(
    request: Request[Any, Any, Any], service: Service, aggregat: str, agg_id: UUID, format: Format
) -> Response[Any]:
    historikk, naa = await office_first(request, service, agg_id, service.history(agg_id, aggregat))
    user = bruker(request)
    user.check_read(naa.nav_enhet)
    logg_innsyn(request, [(naa.person, aggregat, agg_id)])
    navn = f"{aggregat}-{agg_id}-historikk.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{navn}"'}
    if format == "html":
        side = html_side(historikk, eksportert=datetime.now(UTC), av=user.ident)
        return Response(content=side, media_type="text/html; charset=utf-8", headers=headers)
    return Response(content=historikk, headers=headers)


_FORMAT = Parameter(default="json", description="`json` (the history as `…/historikk` gives it) or `html`")


class EksportController(Controller):
    path = API
    tags = ["eksport"]

    @get(
        "/tiltakslop/{lop_id:uuid}/historikk/eksport", summary="Export the løp's history as JSON or printable HTML",
        responses=examples.LOP_EKSPORT_SVAR, operation_class=examples.Eksport,
    )
    async def lop(
        self, request: Request[Any, Any, Any], lop_id: FromPath[UUID], service: ServiceDep, format: Format = _FORMAT
    ) -> Response[Historikk]:
        return await eksport(request, service, "tiltakslop", lop_id, format)

    @get(
        "/ungdomsgarantier/{garanti_id:uuid}/historikk/eksport",
        summary="Export the guarantee's history as JSON or printable HTML",
        responses=examples.GARANTI_EKSPORT_SVAR, operation_class=examples.Eksport,
    )
    async def garanti(
        self, request: Request[Any, Any, Any], garanti_id: FromPath[UUID], service: ServiceDep, format: Format = _FORMAT
    ) -> Response[Historikk]:
        return await eksport(request, service, "ungdomsgaranti", garanti_id, format)
