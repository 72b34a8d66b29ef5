"""`make docs` (`python -m workers.regelkatalog`): docs/regelkatalog.md, the rule catalogue as implemented,
generated from the domain so that it cannot drift from what the aggregates judge.

- Every measure of each rule set (`domain.katalog.REGELSETT`): target groups, base and total caps per group
  or position type, extension reasons and how far each reaches, age limits, open end, review type, rates.
- Every code set the commands carry (the StrEnums of `domain.katalog`, `domain.koder`, `domain.common`) and
  the alert types.
- The configurable rule values and their defaults (`domain.config.Regelkonfig`; docs/configuration.md).
- Every refusal code the domain raises (`DomainError(<code>, ...)` and the classes of `domain.errors`), and
  every rule id the domain's code names (comments and docstrings of `domain/*.py`), with the modules.

`--check` exits 1 when docs/regelkatalog.md differs from a fresh generation (tests/unit/test_regelkatalog.py
asserts the same).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path

from domain import common, errors, katalog, koder, tiltakslop, ungdomsgaranti
from domain.config import Regelkonfig
from domain.katalog import Regelsett, Tiltaksregel, Varighet

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ROOT / "domain"
FIL = ROOT / "docs" / "regelkatalog.md"
# A rule id as the code names it: LOP-5, LOP-5d, UG-D3, UG-4a, OPP-AGE, GEN-12 (not AES-GCM, not SEED-2024).
RULE_ID = re.compile(r"\b(GEN|DATE|LOP|OPP|ART|AFT|OPF|IPS|LTS|MEN|VTA|VTAO|AVK|ARR|KVP|UG)-(D?\d+[a-z]?|AGE)\b")

KODESETT: tuple[tuple[str, type[StrEnum], str], ...] = (
    ("tiltakstype", katalog.Tiltakstype, "`POST /tiltakslop` (and `til` of an overgang)"),
    ("variant", katalog.Variant, "required on `OPPLAERING` only"),
    ("malgruppe", common.Malgruppe, "`malgruppe`, `ny_malgruppe`"),
    ("samtykke_foreldre", common.SamtykkeForeldre, "only `BEGGE` consents"),
    ("stillingstype", katalog.Stillingstype, "FIREARIG_LONNSTILSKUDD_FORSOK"),
    ("aarsak (forlengelse)", katalog.Forlengelsesaarsak, "`POST …/forlengelser`"),
    ("aarsak (avslutning of a løp)", katalog.Avslutningsaarsak, "`POST …/avslutning`, corrections"),
    ("type (vurdering)", katalog.Vurderingstype, "`POST …/vurderinger`"),
    ("type (permisjon)", katalog.Permisjonstype, "`POST …/permisjoner`"),
    ("kanal", koder.Kanal, "`POST /ungdomsgarantier/{id}/samtaler`"),
    ("kind", koder.AktivitetKind, "`POST /ungdomsgarantier/{id}/aktiviteter`"),
    ("instans", koder.Instans, "SamhandlingRegistrert (domain only)"),
    ("aarsak (avslutning of a guarantee)", koder.Avslutningsaarsak, "`POST /ungdomsgarantier/{id}/avslutning`"),
    ("alert type (løp)", tiltakslop.Varseltype, "`GET /frister?type=`, `forlop.varsel.<TYPE>`"),
    ("alert type (guarantee)", ungdomsgaranti.Varseltype, "`GET /frister?type=`, `forlop.varsel.<TYPE>`"),
)


def varighet(v: Varighet | None) -> str:
    if v is None:
        return "no cap"
    if v.arbeidsdager:
        return f"{v.arbeidsdager} working days"
    deler = [(v.years, "year"), (v.months, "month"), (v.weeks, "week")]
    return " ".join(f"{n} {enhet}{'s' if n > 1 else ''}" for n, enhet in deler if n) or "0"


def per_gruppe(grupper: Iterable[common.Malgruppe], verdi: Mapping[common.Malgruppe, Varighet | None]) -> str:
    verdier = {g: varighet(verdi[g]) for g in grupper if g in verdi}
    if len(set(verdier.values())) == 1:
        return next(iter(verdier.values()))
    return "; ".join(f"{g}: {v}" for g, v in verdier.items())


def _rad(regel: Tiltaksregel) -> list[str]:
    grupper = sorted(regel.malgrupper)
    if regel.stilling is not None:
        cap = "; ".join(f"{s}: {varighet(v)}" for s, v in regel.stilling.items())
        base = total = cap
    else:
        base = per_gruppe(grupper, regel.base)
        total = per_gruppe(grupper, regel.total)
    grunner = []
    for g in regel.forlengelse:
        for_grupper = [m for m in grupper if m in g.rekkevidde]
        tekst = f"`{g.aarsak}` → {per_gruppe(for_grupper, g.rekkevidde)}"
        if for_grupper != grupper:
            tekst += f" ({', '.join(for_grupper)} only)"
        if g.begrunnelse_kreves:
            tekst += ", begrunnelse required"
        if g.maks_ganger_utover_base is not None:
            tekst += f", at most {g.maks_ganger_utover_base}× past the base cap"
        grunner.append(tekst)
    alder = f"≥ {regel.min_alder}" + (" (OPP-AGE rule)" if regel.min_alder_etter_regel else "")
    if regel.maks_alder is not None:
        alder += f", ≤ {regel.maks_alder}"
    andre = []
    if regel.apen_slutt:
        andre.append("open end (no tom)")
    if regel.vurderingstype is not None:
        andre.append(f"review `{regel.vurderingstype}`")
    if regel.satser is not None:
        planer = {g: ", ".join(f"{t.prosent} % from month {t.fra_maaned}" for t in trinn)
                  for g, trinn in sorted(regel.satser.trinn.items())}
        if len(set(planer.values())) == 1 and len(planer) == len(grupper):
            andre.append(f"max rate: {next(iter(planer.values()))}")
        else:
            andre += [f"max rate {g}: {plan}" for g, plan in planer.items()]
    if regel.permisjon:
        andre.append("leave (HOSPITERING)")
    navn = f"`{regel.tiltakstype}`" + (f" / `{regel.variant}`" if regel.variant else "")
    return [navn, ", ".join(grupper), base, total, "<br>".join(grunner), alder, "; ".join(andre)]


def _tabell(hode: list[str], rader: list[list[str]]) -> list[str]:
    def celle(t: str) -> str:
        return t.replace("|", "\\|") or "–"

    return [
        "| " + " | ".join(hode) + " |",
        "|" + "---|" * len(hode),
        *("| " + " | ".join(celle(c) for c in rad) + " |" for rad in rader),
    ]


def regelsett(rs: Regelsett) -> list[str]:
    fra = "always" if rs.gjelder_fra.year == 1 else rs.gjelder_fra.isoformat()
    linjer = [f"### Rule set `{rs.id}` (løp with fom from: {fra})", ""]
    rader = [_rad(r) for r in rs.regler.values()]
    hode = ["measure", "target groups", "base cap", "total cap", "extension reasons (reach)", "age", "other"]
    return [*linjer, *_tabell(hode, rader), ""]


def _konfig() -> list[str]:
    standard = Regelkonfig()
    rader = []
    for f in dataclasses.fields(standard):
        verdi = getattr(standard, f.name)
        if isinstance(verdi, dict):
            tekst = ", ".join(f"{k}: {_kort(v)}" for k, v in verdi.items())
        else:
            tekst = _kort(verdi)
        rader.append([f"`{f.name}`", tekst])
    return _tabell(["value", "default"], rader)


def _kort(v: object) -> str:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        deler = [f"{f.name}={getattr(v, f.name)}" for f in dataclasses.fields(v) if getattr(v, f.name) is not None]
        return "(" + ", ".join(deler) + ")"
    return str(v)


def _kilder() -> list[tuple[str, str]]:
    return [(p.name, p.read_text(encoding="utf-8")) for p in sorted(DOMAIN.glob("*.py"))]


def feilkoder() -> dict[str, set[str]]:
    """Each refusal code and the domain modules that raise it (or define it, for domain.errors' classes)."""
    koder_: dict[str, set[str]] = defaultdict(set)
    klasser = {
        navn: klasse for navn, klasse in vars(errors).items()
        if isinstance(klasse, type) and issubclass(klasse, errors.DomainError)
    }
    for fil, tekst in _kilder():
        for node in ast.walk(ast.parse(tekst)):
            if (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "DomainError"
                and node.args and isinstance(node.args[0], ast.Constant)
            ):
                koder_[str(node.args[0].value)].add(fil)
    for navn, klasse in klasser.items():
        kode = _kode_av(klasse)
        if kode is not None:
            koder_[kode].add(f"errors.py ({navn}, HTTP {klasse.status})")
    return koder_


def _kode_av(klasse: type[errors.DomainError]) -> str | None:
    """The code a DomainError subclass passes to DomainError.__init__ (read from its source)."""
    if klasse is errors.DomainError:
        return None
    tekst = (DOMAIN / "errors.py").read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(tekst)):
        if isinstance(node, ast.ClassDef) and node.name == klasse.__name__:
            for kall in ast.walk(node):
                if isinstance(kall, ast.Call) and kall.args and isinstance(kall.args[0], ast.Constant):
                    if isinstance(kall.func, ast.Attribute) and kall.func.attr == "__init__":
                        return str(kall.args[0].value)
    return None


def regel_ider() -> dict[str, list[str]]:
    """Each rule id named in domain/*.py and the modules that name it (no line numbers: an edit elsewhere in
    a module does not make the file stale)."""
    funn: dict[str, list[str]] = defaultdict(list)
    for fil, tekst in _kilder():
        for m in RULE_ID.finditer(tekst):
            if fil not in funn[m.group(0)]:
                funn[m.group(0)].append(fil)
    return funn


def _sorteringsnokkel(regel_id: str) -> tuple[str, int, str]:
    prefiks, _, rest = regel_id.partition("-")
    tall = re.match(r"D?(\d+)", rest)
    return (prefiks, int(tall.group(1)) if tall else 0, rest)


def generer() -> str:
    linjer = [
        "# The rule catalogue as implemented",
        "",
        "Generated by `make docs` (`python -m workers.regelkatalog`) from `domain/katalog.py`, `domain/koder.py`,",
        "`domain/common.py`, `domain/config.py`, `domain/errors.py` and the rule ids the code in `domain/` names.",
        "Do not edit: tests/unit/test_regelkatalog.py fails when this file is stale. Durations are \"up to\":",
        "the latest `tom` is `fom` plus the duration minus one day (DATE-3/4). Rule ids refer to the NAV rule",
        "catalogue the domain implements; the glossary (docs/glossary.md) explains the Norwegian terms.",
        "",
        "## Measures and their caps",
        "",
    ]
    for rs in katalog.REGELSETT:
        linjer += regelsett(rs)
    linjer += ["## Code sets", "", "Every code the API takes or gives (the OpenAPI document lists them as enums).", ""]
    linjer += _tabell(
        ["field", "codes", "where"],
        [[f"`{navn}`", ", ".join(f"`{k}`" for k in enum), hvor] for navn, enum, hvor in KODESETT],
    )
    linjer += [
        "",
        "## Configurable rule values",
        "",
        "Defaults of `domain.config.Regelkonfig`; a TOML file overrides them (docs/configuration.md).",
        "",
        *_konfig(),
        "",
        "## Refusal codes",
        "",
        "422 unless noted; every refusal is problem+json with the code and the limits that explain it.",
        "",
    ]
    linjer += _tabell(
        ["code", "raised in"],
        [[f"`{k}`", ", ".join(sorted(v))] for k, v in sorted(feilkoder().items())],
    )
    ider = regel_ider()
    linjer += ["", "## Rule ids named in the code", "", f"{len(ider)} rule ids, with the modules of `domain/` that name them.", ""]
    linjer += _tabell(
        ["rule", "named in"],
        [[k, ", ".join(ider[k])] for k in sorted(ider, key=_sorteringsnokkel)],
    )
    return "\n".join(linjer) + "\n"


def stale(fil: Path = FIL) -> bool:
    """True when `fil` is missing or differs from a fresh generation."""
    return not fil.is_file() or fil.read_text(encoding="utf-8") != generer()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/regelkatalog.md is stale")
    args = parser.parse_args(argv)
    if args.check:
        if stale():
            print(f"{FIL.relative_to(ROOT)} is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    FIL.write_text(generer(), encoding="utf-8")
    print(f"{FIL.relative_to(ROOT)} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
