"""The one settings module: environment variables and the `--config` TOML file (contract.md §1).

Nothing else reads `os.environ` or the TOML file. Defaults are those of rules.md; `forlop config
--defaults` prints them.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from domain.config import STANDARD, AlderRegel, PilotVindu, Regelkonfig


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".forlop")
    database_url: str | None = None
    nats_url: str | None = None
    port: int = 8000
    nats_port: int = 4222
    today: date | None = None
    events_table: str = "forlop_events"
    snapshot_interval: int = 50
    regler: Regelkonfig = field(default_factory=Regelkonfig)
    jwt_secret: str | None = None
    person_key: str | None = None
    pseudonym_key: str | None = None
    signing_key: str | None = None
    nats_replicas: int = 1
    log_level: str = "INFO"
    projeksjon_maks_etterslep_sekunder: float = 30.0
    # Personal fields of events, snapshots and views encrypted with a key per person (store/encryption.py),
    # so that `forlop glem` can erase a person by destroying the key. FORLOP_FIELD_ENCRYPTION=0 turns it off.
    field_encryption: bool = True

    def secret(self, name: str) -> bytes:
        """A key from configuration, or in development a random one kept under the data directory.

        `name` is `jwt` (signs tokens), `person` (keys the person record's id and request fingerprints),
        `pseudonym` (keys `person_pseudonym` on NATS, which subscribers see) or `signing` (the seed of the
        Ed25519 key that signs the log's checkpoints, store/verification.py).
        """
        configured = {"jwt": self.jwt_secret, "person": self.person_key, "pseudonym": self.pseudonym_key,
                      "signing": self.signing_key}[name]
        if configured:
            return configured.encode()
        return dev_secret(self.data_dir, name)


def dev_secret(data_dir: Path, name: str) -> bytes:
    """The development key `name` under `data_dir/keys`, created on first use (readable by the owner only)."""
    path = data_dir / "keys" / f"{name}.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_hex(32), encoding="ascii")
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # atomic: two processes starting at once keep one key
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text(encoding="ascii").strip().encode()


def _regelkonfig(raw: dict[str, Any]) -> Regelkonfig:
    known = {"ungdomsgaranti", "varsler", "pilot", "regler", "vurderinger"}
    unknown = set(raw) - known
    if unknown:
        raise SettingsError(f"unknown configuration tables: {sorted(unknown)}")
    ug = raw.get("ungdomsgaranti", {})
    lead = dict(STANDARD.lead_days)
    for key, value in raw.get("varsler", {}).get("lead_days", {}).items():
        if key not in lead:
            raise SettingsError(f"varsler.lead_days.{key}: not an alert type with a lead (rules.md §8.5)")
        lead[key] = int(value)
    piloter = dict(STANDARD.piloter)
    for name, table in raw.get("pilot", {}).items():
        if name not in piloter:
            raise SettingsError(f"pilot.{name}: unknown pilot")
        base = piloter[name]
        fylker = table.get("fylker")  # contract.md §1: a pilot table with no `fylker` is open everywhere
        piloter[name] = PilotVindu(
            fom=table.get("fom", base.fom),
            tom=table.get("tom", base.tom),
            fylker=tuple(fylker) if fylker is not None else None,
        )
    intervall = dict(STANDARD.vurdering_intervall_maaneder)
    intervall.update({k: int(v) for k, v in raw.get("vurderinger", {}).get("intervall_maaneder", {}).items()})
    regel = raw.get("regler", {}).get("alder_regel", STANDARD.alder_regel.value)
    try:
        alder_regel = AlderRegel(regel)
    except ValueError:
        raise SettingsError(f"regler.alder_regel: {regel!r} is not COMPLETED_YEARS or CALENDAR_YEAR") from None
    return Regelkonfig(
        samtale_intervall_dager=int(ug.get("samtale_intervall_dager", STANDARD.samtale_intervall_dager)),
        kontaktperson_frist_dager=int(ug.get("kontaktperson_frist_dager", STANDARD.kontaktperson_frist_dager)),
        max_caseload=int(ug.get("max_caseload", STANDARD.max_caseload)),
        lead_days=lead,
        piloter=piloter,
        alder_regel=alder_regel,
        vurdering_intervall_maaneder=intervall,
    )


def load_settings(
    config_file: Path | None = None,
    *,
    data_dir: Path | None = None,
    port: int | None = None,
    nats_port: int | None = None,
    today: date | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    if config_file is not None:
        raw = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
    return Settings(
        data_dir=data_dir or Path(env.get("FORLOP_DATA_DIR", ".forlop")),
        database_url=env.get("DATABASE_URL") or None,
        nats_url=env.get("NATS_URL") or None,
        port=port if port is not None else int(env.get("FORLOP_PORT", "8000")),
        nats_port=nats_port if nats_port is not None else 4222,
        today=today,
        regler=_regelkonfig(raw),
        jwt_secret=env.get("FORLOP_JWT_SECRET") or None,
        person_key=env.get("FORLOP_PERSON_KEY") or None,
        pseudonym_key=env.get("FORLOP_PSEUDONYM_KEY") or None,
        signing_key=env.get("FORLOP_SIGNING_KEY") or None,
        nats_replicas=int(env.get("FORLOP_NATS_REPLICAS", "1")),
        log_level=env.get("FORLOP_LOG_LEVEL", "INFO"),
        projeksjon_maks_etterslep_sekunder=float(env.get("FORLOP_PROJEKSJON_MAKS_ETTERSLEP", "30")),
        field_encryption=env.get("FORLOP_FIELD_ENCRYPTION", "1" if Settings.field_encryption else "0") != "0",
    )


def defaults_toml() -> str:
    """The default configuration in the layout of contract.md §1."""
    k = STANDARD
    lines = [
        "[ungdomsgaranti]",
        f"samtale_intervall_dager = {k.samtale_intervall_dager}",
        f"kontaktperson_frist_dager = {k.kontaktperson_frist_dager}",
        f"max_caseload = {k.max_caseload}",
        "",
        "[varsler.lead_days]",
        *(f"{name} = {days}" for name, days in k.lead_days.items()),
    ]
    for name, pilot in k.piloter.items():
        lines += ["", f"[pilot.{name}]"]
        if pilot.fom:
            lines.append(f"fom = {pilot.fom.isoformat()}")
        if pilot.tom:
            lines.append(f"tom = {pilot.tom.isoformat()}")
        if pilot.fylker is not None:
            lines.append("fylker = [" + ", ".join(f'"{f}"' for f in pilot.fylker) + "]")
    lines += ["", "[regler]", f'alder_regel = "{k.alder_regel.value}"', "", "[vurderinger.intervall_maaneder]"]
    lines += [f"{name} = {months}" for name, months in k.vurdering_intervall_maaneder.items()]
    return "\n".join(lines) + "\n"
