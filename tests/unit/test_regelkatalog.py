"""docs/regelkatalog.md is the rule catalogue as the domain implements it (`make docs`): the file on disk is
exactly a fresh generation, and it covers every measure, code set, refusal code and rule id of the domain."""

from __future__ import annotations

from domain import katalog
from domain.katalog import Tiltakstype
from workers import regelkatalog


def test_docs_regelkatalog_md_is_not_stale():
    on_disk = regelkatalog.FIL.read_text(encoding="utf-8")

    assert on_disk == regelkatalog.generer(), "docs/regelkatalog.md is stale: run `make docs`"
    assert regelkatalog.main(["--check"]) == 0


def test_every_measure_and_variant_has_a_row():
    tekst = regelkatalog.generer()

    for tiltakstype, variant in katalog.SEED_2024.regler:
        navn = f"`{tiltakstype}`" + (f" / `{variant}`" if variant else "")
        assert f"| {navn} |" in tekst
    assert len(katalog.SEED_2024.regler) == len(Tiltakstype) - 1 + len(katalog.Variant)


def test_codes_and_rule_ids_come_from_the_domain():
    koder = regelkatalog.feilkoder()
    ider = regelkatalog.regel_ider()

    assert {"EXCEEDS_MAX_DURATION", "EXTENSION_REASON_NOT_ALLOWED", "LOP_CLOSED", "INVALID_REQUEST"} <= set(koder)
    assert {"LOP-5", "LOP-14", "OPP-AGE", "UG-D3", "GEN-12"} <= set(ider)
    assert "SEED-2024" not in ider and "AES-GCM" not in ider


def test_a_changed_or_missing_file_is_reported_stale(tmp_path):
    fil = tmp_path / "regelkatalog.md"
    assert regelkatalog.stale(fil)

    fil.write_text(regelkatalog.generer().replace("3 years", "30 years", 1), encoding="utf-8")

    assert regelkatalog.stale(fil)
    fil.write_text(regelkatalog.generer(), encoding="utf-8")
    assert not regelkatalog.stale(fil)
