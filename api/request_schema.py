"""The OpenAPI document's request bodies and queries made exact (contract.md §2), so that a client (or
schemathesis) that follows them is not refused for the shape of its request.

The command Structs keep every field optional for decoding: the rule that owns a field judges it when it is
missing (400 `INVALID_REQUEST`, or 422 with the catalogue's code). The document says what those rules say of
the wire: which fields a body must hold (`required`, and then not `null`), that no other field may be sent
(`additionalProperties: false`, as `forbid_unknown_fields` decodes), what an office looks like, and which
query parameters a route takes (any other is 400, see `check_query`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from litestar.openapi.spec import OpenAPI, OpenAPIType, Operation, Parameter, Reference, Schema

from api.common import is_blank

#: Per request Struct, the fields whose absence (or null) is 400 INVALID_REQUEST whatever else the body holds
#: (contract.md §2: `person`, `tiltakstype`, `malgruppe`, `nav_enhet`, `vedtak_ref`, `kanal`, `kind`, `type`,
#: `utfall`, an end's `aarsak`, ...). Fields the catalogue judges when missing (dates, `begrunnelse`, ...) stay
#: optional here: their absence is a 422 with the catalogue's code, which a schema cannot say.
REQUIRED: dict[str, tuple[str, ...]] = {
    "InnvilgLop": ("person", "tiltakstype", "malgruppe", "nav_enhet", "vedtak_ref"),
    "NyttLop": ("tiltakstype", "malgruppe", "nav_enhet", "vedtak_ref"),
    "Overgang": ("til",),
    "AvsluttLop": ("aarsak",),
    "EndreMalgruppe": ("ny_malgruppe", "vedtak_ref"),
    "InnvilgPermisjon": ("type",),
    "FastsettSats": ("prosent",),
    "RegistrerVurdering": ("dato", "type", "utfall"),
    "InnvilgGaranti": ("person", "nav_enhet"),
    "KobleAktivitet": ("kind",),
    "AvsluttGaranti": ("aarsak",),
    "TildelKontaktperson": ("nav_ident",),
    "RegistrerSamtale": ("kanal",),
    "OversiktCreate": ("person",),
    "Personalia": ("ident",),
}
#: A grant needs the person's birth date too (a look-up does not).
PERSON_WITH_BIRTH_DATE = ("InnvilgLop", "InnvilgGaranti")
#: A field required only beside a given code: (Struct, field, value) → the fields then required.
REQUIRED_WHEN: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("InnvilgLop", "tiltakstype", "OPPLAERING"): ("variant",),
    ("NyttLop", "tiltakstype", "OPPLAERING"): ("variant",),
    ("KobleAktivitet", "kind", "TILTAK"): ("tiltakslop_id", "fom", "tom"),
}
#: 4 digits whose first two are a county code (contract.md §2 "Errors").
NAV_ENHET = r"^(03|11|15|18|3[0-4]|3[89]|40|42|46|50|5[4-6])[0-9]{2}$"
#: An office named in a query (`?enhet=`): 4 digits; one outside the caller's offices is 403.
ENHET = r"^[0-9]{4}$"
#: A query value holds no control character (check_query: 400).
NO_CONTROL = r"^[^\u0000-\u001f\u007f-\u009f]*$"


def _visible() -> str:
    """A pattern a text matches when it holds a visible character (api.common.is_blank: an invisible-only
    text counts as missing): any character of the Basic Multilingual Plane that is not blank."""
    blank = [c for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF and is_blank(chr(c))]
    ranges: list[tuple[int, int]] = []
    for c in blank:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    parts = "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)
    return f"[^{parts}]"


#: A required text: at least one visible character.
VISIBLE = _visible()
#: An identifier: 11 digits (its mod-11 control digits are judged by the server: 400).
IDENT = r"^[0-9]{11}$"


def tighten(openapi: OpenAPI) -> dict[tuple[str, str], frozenset[str]]:
    """Make the request bodies of `openapi` exact, in place, before it is first served; answers the query
    parameters each operation takes, by (path, method)."""
    schemas = openapi.components.schemas if openapi.components and openapi.components.schemas else {}
    queries: dict[tuple[str, str], frozenset[str]] = {}
    bodies: set[str] = set()
    for path, item in (openapi.paths or {}).items():
        for method, operation in _operations(item):
            parameters = [p for p in operation.parameters or [] if isinstance(p, Parameter)]
            names = frozenset(p.name for p in parameters if p.param_in == "query")
            queries[(path, method)] = names
            if method == "GET":
                queries[(path, "HEAD")] = names
            for parameter in parameters:
                if parameter.param_in == "query" and isinstance(parameter.schema, Schema):
                    _query(parameter.name, parameter.schema)
            body = operation.request_body
            content = getattr(body, "content", None) or {}
            for media in content.values():
                bodies.update(_refs(media.schema))
    for name in sorted(_reachable(bodies, schemas)):
        _tighten_body(name, schemas[name])
    return queries


def _tighten_body(name: str, schema: Schema) -> None:
    """One request Struct's schema: closed, its required fields not null, offices and identifiers shaped."""
    schema.additional_properties = False
    required = REQUIRED.get(name, ())
    schema.required = sorted({*(schema.required or ()), *required})
    for field in required:
        prop = (schema.properties or {}).get(field)
        if isinstance(prop, Schema):
            _not_null(prop)
            for text in _string_schemas(prop):
                if text.format is None and text.pattern is None and field not in ("nav_enhet", "ident"):
                    text.min_length, text.pattern = 1, VISIBLE
    for field, prop in (schema.properties or {}).items():
        if not isinstance(prop, Schema):
            continue
        if field == "nav_enhet":
            _pattern(prop, NAV_ENHET)
        if name == "Personalia" and field == "ident":
            _pattern(prop, IDENT)
    if name in PERSON_WITH_BIRTH_DATE and schema.properties:
        schema.properties["person"] = Schema(
            all_of=[Reference(ref="#/components/schemas/Personalia")], required=["fodselsdato", "ident"]
        )
    conditions = [
        Schema(
            schema_if=Schema(properties={field: Schema(const=value)}, required=[field]),
            then=Schema(required=list(then)),
        )
        for (struct, field, value), then in REQUIRED_WHEN.items()
        if struct == name
    ]
    if conditions:
        schema.all_of = [*(schema.all_of or []), *conditions]


_NOT_NULL = Schema(schema_not=Schema(type=OpenAPIType.NULL))
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _operations(item: Any) -> Iterator[tuple[str, Operation]]:
    for method in _METHODS:
        operation = getattr(item, method, None)
        if isinstance(operation, Operation):
            yield method.upper(), operation


def _refs(schema: Any) -> Iterator[str]:
    """The component names a schema refers to (directly, or through allOf/oneOf/anyOf, properties, items)."""
    if isinstance(schema, Reference):
        yield schema.ref.rsplit("/", 1)[-1]
        return
    if not isinstance(schema, Schema):
        return
    for group in (schema.all_of, schema.one_of, schema.any_of):
        for sub in group or ():
            yield from _refs(sub)
    for sub in (schema.properties or {}).values():
        yield from _refs(sub)
    if schema.items is not None:
        yield from _refs(schema.items)


def _reachable(roots: Iterable[str], schemas: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = [r for r in roots if r in schemas]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(r for r in _refs(schemas[name]) if r in schemas and r not in seen)
    return seen


def _is_null(schema: Any) -> bool:
    return isinstance(schema, Schema) and schema.type is not None and str(getattr(schema.type, "value", schema.type)) == "null"


def _not_null(schema: Schema) -> None:
    """A required field: its null alternative (and a null among its codes) removed."""
    if schema.one_of:
        schema.one_of = [s for s in schema.one_of if not _is_null(s)]
    if schema.enum is not None:
        schema.enum = [v for v in schema.enum if v is not None]


def _string_schemas(schema: Schema) -> Iterator[Schema]:
    if str(getattr(schema.type, "value", schema.type)) == "string":
        yield schema
    for sub in schema.one_of or ():
        if isinstance(sub, Schema):
            yield from _string_schemas(sub)


def _pattern(schema: Schema, pattern: str) -> None:
    for text in _string_schemas(schema):
        text.pattern = pattern


def _query(name: str, schema: Schema) -> None:
    """A query parameter's texts (and the items of a repeated one): an office is 4 digits, any other text
    holds no control character."""
    for sub in [schema, *(schema.one_of or ())]:
        if not isinstance(sub, Schema):
            continue
        for text in [*_string_schemas(sub), *(_string_schemas(sub.items) if isinstance(sub.items, Schema) else [])]:
            if name == "enhet":
                text.pattern = ENHET
            elif text.pattern is None and text.format is None and text.enum is None:
                text.pattern = NO_CONTROL
