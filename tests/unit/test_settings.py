import tomllib
from datetime import date

import msgspec
import pytest

from domain.config import STANDARD, AlderRegel
from store.settings import (
    IntervallTable,
    LeadDaysTable,
    PilotTables,
    SettingsError,
    config_toml,
    decode_config,
    defaults_toml,
    get_settings,
    load_settings,
)


def test_defaults_printed_parse_back_to_the_same_configuration(tmp_path):
    config = tmp_path / "forlop.toml"
    config.write_text(defaults_toml())

    settings = load_settings(config, environ={})

    assert settings.regler == STANDARD
    assert tomllib.loads(defaults_toml())["ungdomsgaranti"]["samtale_intervall_dager"] == 30


def test_config_file_overrides_each_rule_value(tmp_path):
    config = tmp_path / "forlop.toml"
    config.write_text(
        """
[ungdomsgaranti]
samtale_intervall_dager = 21
[varsler.lead_days]
TOM_NAERMER_SEG = 45
[pilot.FIREARIG_LONNSTILSKUDD_FORSOK]
fom = 2027-01-01
[regler]
alder_regel = "CALENDAR_YEAR"
[vurderinger.intervall_maaneder]
AFT = 2
"""
    )

    regler = load_settings(config, environ={}).regler

    assert regler.samtale_intervall_dager == 21
    assert regler.lead_days["TOM_NAERMER_SEG"] == 45
    assert regler.lead_days["CAP_NAERMER_SEG"] == 90
    assert regler.piloter["FIREARIG_LONNSTILSKUDD_FORSOK"].fom == date(2027, 1, 1)
    assert regler.piloter["FIREARIG_LONNSTILSKUDD_FORSOK"].tom == date(2032, 12, 31)
    assert regler.alder_regel is AlderRegel.CALENDAR_YEAR
    assert regler.vurdering_intervall_maaneder["AFT"] == 2


def test_unknown_keys_are_refused(tmp_path):
    config = tmp_path / "forlop.toml"
    config.write_text("[varsler.lead_days]\nUKJENT = 3\n")

    with pytest.raises(SettingsError, match=r"^varsler\.lead_days\.UKJENT: unknown key$"):
        load_settings(config, environ={})


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[ungdomsgaranti]\nsamtale_intervall_dagar = 30\n", "ungdomsgaranti.samtale_intervall_dagar: unknown key"),
        ("[ungdomsgaranti]\nmax_caseload = \"20\"\n", "ungdomsgaranti.max_caseload: expected int, got str"),
        ("[ungdomsgaranti]\nsamtale_intervall_dager = 0\n", "ungdomsgaranti.samtale_intervall_dager: expected int >= 1"),
        ("[varsler.lead_days]\nTOM_NAERMER_SEG = -1\n", "varsler.lead_days.TOM_NAERMER_SEG: expected int >= 0"),
        ("[varsler]\nlead_dager = 3\n", "varsler.lead_dager: unknown key"),
        ("[pilot.UKJENT_FORSOK]\nfom = 2025-01-01\n", "pilot.UKJENT_FORSOK: unknown key"),
        ("[pilot.FIREARIG_LONNSTILSKUDD_FORSOK]\nfom = \"i fjor\"\n", "pilot.FIREARIG_LONNSTILSKUDD_FORSOK.fom: expected date, got str"),
        ("[pilot.FIREARIG_LONNSTILSKUDD_FORSOK]\nslutt = 2030-01-01\n", "pilot.FIREARIG_LONNSTILSKUDD_FORSOK.slutt: unknown key"),
        ("[pilot.OPPLAERING_LENGRE_VARIGHET_FORSOK]\nfylker = [\"3\"]\n", "pilot.OPPLAERING_LENGRE_VARIGHET_FORSOK.fylker[0]: expected str matching"),
        ("[regler]\nalder_regel = \"FYLTE_AAR\"\n", "regler.alder_regel: invalid enum value 'FYLTE_AAR'"),
        ("[vurderinger.intervall_maaneder]\nARBEIDSTRENING = 3\n", "vurderinger.intervall_maaneder.ARBEIDSTRENING: unknown key"),
        ("[tiltak]\nx = 1\n", "tiltak: unknown key"),
        ("[ungdomsgaranti\n", "not a TOML file"),
    ],
)
def test_a_wrong_key_or_value_is_refused_with_its_path(toml, message):
    with pytest.raises(SettingsError) as refused:
        decode_config(toml)

    assert str(refused.value).startswith(message), str(refused.value)


def test_the_keyed_tables_list_exactly_the_catalogue_defaults():
    """The file's tables name their keys; the defaults (and the key set) are domain/config.py's."""
    assert [f.name for f in msgspec.structs.fields(LeadDaysTable)] == list(STANDARD.lead_days)
    assert [f.name for f in msgspec.structs.fields(IntervallTable)] == list(STANDARD.vurdering_intervall_maaneder)
    assert [f.name for f in msgspec.structs.fields(PilotTables)] == list(STANDARD.piloter)


def test_an_empty_file_gives_the_defaults_and_an_effective_configuration_prints_back():
    assert decode_config("") == STANDARD
    changed = decode_config("[ungdomsgaranti]\nmax_caseload = 12\n[pilot.OPPLAERING_LENGRE_VARIGHET_FORSOK]\nfylker = [\"46\"]\n")

    assert decode_config(config_toml(changed)) == changed
    assert changed.piloter["OPPLAERING_LENGRE_VARIGHET_FORSOK"].fylker == ("46",)
    assert changed.piloter["OPPLAERING_LENGRE_VARIGHET_FORSOK"].fom == date(2023, 9, 1)


def test_environment_variables_are_decoded_into_their_types_and_an_empty_one_is_unset():
    settings = load_settings(environ={
        "FORLOP_PORT": "8123", "FORLOP_NATS_REPLICAS": "3", "FORLOP_FIELD_ENCRYPTION": "0",
        "FORLOP_PROJEKSJON_MAKS_ETTERSLEP": "2.5", "FORLOP_TODAY": "2025-02-03", "NATS_URL": "", "UNRELATED": "x",
    })

    assert (settings.port, settings.nats_replicas, settings.field_encryption) == (8123, 3, False)
    assert settings.projeksjon_maks_etterslep_sekunder == 2.5
    assert settings.today == date(2025, 2, 3)
    assert settings.nats_url is None


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FORLOP_PORT", "åtte", "environment: FORLOP_PORT: expected int, got str"),
        ("FORLOP_NATS_REPLICAS", "0", "environment: FORLOP_NATS_REPLICAS: expected int >= 1"),
        ("FORLOP_LOG_LEVEL", "LOUD", "environment: FORLOP_LOG_LEVEL: invalid enum value 'LOUD'"),
        ("FORLOP_FIELD_ENCRYPTION", "kanskje", "environment: FORLOP_FIELD_ENCRYPTION: expected bool, got str"),
    ],
)
def test_a_bad_environment_variable_is_refused_by_name(variable, value, message):
    with pytest.raises(SettingsError) as refused:
        load_settings(environ={variable: value})

    assert str(refused.value) == message


def test_command_line_options_win_over_the_environment_and_travel_to_child_processes(tmp_path):
    config = tmp_path / "forlop.toml"
    config.write_text("[ungdomsgaranti]\nmax_caseload = 7\n")
    env = {"FORLOP_PORT": "9000", "DATABASE_URL": "postgresql://a/b"}
    settings = load_settings(config, data_dir=tmp_path, port=9100, today=date(2025, 5, 6), environ=env)

    child = load_settings(environ={**env, **settings.command_environment()})

    assert (settings.port, child.port) == (9100, 9100)
    assert child.regler.max_caseload == 7
    assert (child.today, child.data_dir, child.database_url) == (date(2025, 5, 6), tmp_path, "postgresql://a/b")


def test_get_settings_reads_the_environment_once(monkeypatch):
    get_settings.cache_clear()
    monkeypatch.setenv("FORLOP_PORT", "8765")
    try:
        first = get_settings()
        monkeypatch.setenv("FORLOP_PORT", "8766")
        assert get_settings() is first and first.port == 8765
    finally:
        get_settings.cache_clear()


def test_database_url_comes_from_the_environment():
    settings = load_settings(environ={"DATABASE_URL": "postgresql://x/y"})

    assert settings.database_url == "postgresql://x/y"


def test_opp_6_a_pilot_table_without_fylker_is_open_everywhere(tmp_path):
    config = tmp_path / "forlop.toml"
    config.write_text("[pilot.OPPLAERING_LENGRE_VARIGHET_FORSOK]\nfom = 2024-01-01\n")

    pilot = load_settings(config, environ={}).regler.piloter["OPPLAERING_LENGRE_VARIGHET_FORSOK"]

    assert pilot.fom == date(2024, 1, 1)
    assert pilot.fylker is None
