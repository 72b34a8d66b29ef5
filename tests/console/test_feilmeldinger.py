"""Every error code the API can answer has a Norwegian message in the console (console/src/feil.ts): the
codes of the rule catalogue (rules.md §7.2 and §5.2, listed here) and every code the backend's source
raises, found in it, so that a new refusal without a message fails here and not in front of a caseworker."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FEIL_TS = ROOT / "console" / "src" / "feil.ts"

# rules.md §7.2 (tiltaksløp) and §5.2 (ungdomsgaranti, UG-D1, UG-D6, UG-D7).
KATALOGEN = {
    "AGE_BELOW_MINIMUM", "AGE_ABOVE_MAXIMUM", "PARENTAL_CONSENT_REQUIRED", "TARGET_GROUP_NOT_ELIGIBLE",
    "INVALID_DATE_RANGE", "EXCEEDS_BASE_DURATION", "EXTENSION_REASON_REQUIRED", "EXCEEDS_MAX_DURATION",
    "EXTENSION_REASON_NOT_ALLOWED", "BEGRUNNELSE_REQUIRED", "LOP_CLOSED", "BEFORE_SCHEME_START",
    "AFTER_SCHEME_END", "OUTSIDE_PILOT_AREA", "OVERLAPPING_EXCLUSIVE_MEASURE", "OVERLAPPING_MEASURE",
    "CORRECTION_VIOLATES_CAP", "RATE_ABOVE_MAXIMUM", "LEAVE_TOO_LONG",
    "ALREADY_ACTIVE", "GUARANTEE_CLOSED", "NEED_ASSESSMENT_REQUIRED",
}
# contract.md §2's own codes.
KONTRAKTEN = {
    "INVALID_REQUEST", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "VERSION_CONFLICT", "PRECONDITION_FAILED",
    "IDEMPOTENCY_KEY_REUSED", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "DATABASE_UNAVAILABLE", "VIEWS_BEHIND",
}

_KILDER = ("domain", "store", "projections", "api", "workers")
# A code where the backend names one: DomainError("X", ...), super().__init__("X", ...), problem(..., "X", ...),
# and the status → code map of api/problem.py ({401: "UNAUTHENTICATED", ...}).
_REIST = re.compile(
    r"""(?:DomainError\(|super\(\)\.__init__\(|problem\([^"\n]*?)\s*"([A-Z][A-Z_]{3,})"|^\s*\d{3}:\s*"([A-Z][A-Z_]{3,})",""",
    re.M,
)


def koder_i_backend() -> set[str]:
    koder: set[str] = set()
    for pakke in _KILDER:
        for fil in (ROOT / pakke).rglob("*.py"):
            for m in _REIST.finditer(fil.read_text(encoding="utf-8")):
                koder.add(m.group(1) or m.group(2))
    return koder


def koder_med_melding() -> set[str]:
    tekst = FEIL_TS.read_text(encoding="utf-8")
    blokk = tekst[tekst.index("export const MELDINGER") : tekst.index("\n};", tekst.index("export const MELDINGER"))]
    return set(re.findall(r"^  ([A-Z][A-Z_]+):", blokk, re.M))


def test_the_backend_scan_finds_the_codes_it_raises():
    funnet = koder_i_backend()
    # codes raised in each of the ways the scan knows
    assert {"EXCEEDS_MAX_DURATION", "ALREADY_ACTIVE", "NOT_FOUND", "UNAUTHENTICATED", "VIEWS_BEHIND", "CONSOLE_NOT_BUILT"} <= funnet


def test_every_code_of_the_catalogue_the_contract_and_the_backend_has_a_message():
    meldinger = koder_med_melding()
    assert len(meldinger) > 30
    mangler = sorted((KATALOGEN | KONTRAKTEN | koder_i_backend()) - meldinger)
    assert not mangler, f"no Norwegian message in console/src/feil.ts for {mangler}"
