import tomllib
from datetime import date

import pytest

from domain.config import STANDARD, AlderRegel
from store.settings import SettingsError, defaults_toml, load_settings


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

    with pytest.raises(SettingsError):
        load_settings(config, environ={})


def test_database_url_comes_from_the_environment():
    settings = load_settings(environ={"DATABASE_URL": "postgresql://x/y"})

    assert settings.database_url == "postgresql://x/y"


def test_opp_6_a_pilot_table_without_fylker_is_open_everywhere(tmp_path):
    config = tmp_path / "forlop.toml"
    config.write_text("[pilot.OPPLAERING_LENGRE_VARIGHET_FORSOK]\nfom = 2024-01-01\n")

    pilot = load_settings(config, environ={}).regler.piloter["OPPLAERING_LENGRE_VARIGHET_FORSOK"]

    assert pilot.fom == date(2024, 1, 1)
    assert pilot.fylker is None
