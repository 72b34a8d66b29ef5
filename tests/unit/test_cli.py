"""The `forlop` command line (contract.md §1, README): every command and option keeps its name, every one
has English help, `--version` answers, and a bad configuration is refused with the key's path."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from store.settings import defaults_toml
from workers.cli import forlop, resolve

# contract.md §1 and the README's command list: (command path, options it must take).
CONTRACT = {
    "up": {"--data-dir", "--port", "--nats-port", "--today", "--config"},
    "token": {"--data-dir", "--rolle", "--enhet", "--ident", "--config"},
    "config": {"--defaults"},
    "seed": {"--lop", "--garantier", "--seed", "--samtidige", "--per-person", "--bulk", "--today", "--data-dir", "--config"},
    "rebuild": {"--view", "--data-dir", "--config", "--arbeidere"},
    "replay": {"--kjent-per", "--data-dir", "--config"},
    "verify": {"--stream", "--checkpoint", "--data-dir", "--config"},
    "tail": {"--subject", "--durable", "--nats-url"},
    "relay": {"--data-dir", "--config"},
    "relay replay": {"--fra", "--til", "--data-dir", "--config"},
    "varsler kjor": {"--per", "--data-dir", "--config", "--arbeidere"},
    "varsler kjor-arbeider": {"--today", "--data-dir", "--config"},
    "glem": {"--fil", "--data-dir", "--config"},
    "api": {"--host", "--port", "--workers", "--today", "--data-dir", "--config"},
    "projeksjon": {"--view", "--data-dir", "--config", "--batch"},
    "planlegger": {"--today", "--data-dir", "--config"},
    "migrate": {"--data-dir", "--config"},
}


def commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        found[path] = command
        if isinstance(command, click.Group):
            found |= commands(command, f"{path} ")
    return found


def test_every_command_and_option_of_the_contract_is_there():
    every = commands(forlop)

    for path, options in CONTRACT.items():
        assert path in every, path
        declared = {o for p in every[path].params for o in p.opts}
        assert options <= declared, (path, options - declared)


def test_every_command_and_option_has_help():
    for path, command in commands(forlop).items():
        assert command.help, path
        for param in command.params:
            assert isinstance(param, click.Option) and param.help, (path, param.name)


def test_version_and_the_defaults_are_printed():
    runner = CliRunner()

    version = runner.invoke(forlop, ["--version"])
    defaults = runner.invoke(forlop, ["config", "--defaults"])

    assert version.exit_code == 0 and version.output.startswith("forlop, version ")
    assert defaults.exit_code == 0 and defaults.output == defaults_toml()


def test_a_configuration_with_a_misspelt_key_is_refused_with_its_path(tmp_path):
    config = tmp_path / "forlop.toml"
    config.write_text("[ungdomsgaranti]\nsamtale_intervall_dagar = 30\n")

    result = CliRunner().invoke(forlop, ["config", "--config", str(config)])

    assert result.exit_code == 2
    assert "ungdomsgaranti.samtale_intervall_dagar: unknown key" in result.output


def test_resolve_parses_a_command_line_without_running_it():
    chain = resolve(["relay", "--data-dir", "/tmp/x", "replay", "--fra", "3"])

    assert [name for name, _ in chain] == ["forlop", "relay", "replay"]
    assert chain[2][1]["fra"] == 3
    with pytest.raises(click.UsageError):
        resolve(["varsler", "kjor"])  # --per is required
    with pytest.raises(click.UsageError):
        resolve(["api", "--workers", "0"])
