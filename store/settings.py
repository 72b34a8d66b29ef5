"""The one settings module: environment variables and the `--config` TOML file (contract.md §1).

Nothing else reads `os.environ` or the TOML file. Both are decoded by msgspec into typed Structs:

- the file into `ConfigFile` (every table and key of contract.md §1's layout, every key optional with the
  default of domain/config.py); an unknown key or a wrong type is refused with the key's path, e.g.
  `ungdomsgaranti.samtale_intervall_dagar: unknown key`;
- the environment into one group per concern (`DatabaseEnv`, `NatsEnv`, `KeysEnv`, `ServerEnv`, and
  `CommandEnv` for what the `forlop` command hands to the processes it starts), each with its defaults.

`load_settings` combines them with the command line's options into one `Settings`; `get_settings()` is the
cached one of a process started without a command line (an API server worker). `forlop config --defaults`
prints the defaults.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from domain.config import STANDARD, AlderRegel, PilotVindu, Regelkonfig


class SettingsError(ValueError):
    pass


# --- the --config file ----------------------------------------------------------------------------------------

Dager = Annotated[int, msgspec.Meta(ge=0)]
Antall = Annotated[int, msgspec.Meta(ge=1)]
Fylke = Annotated[str, msgspec.Meta(pattern=r"^\d{2}$")]


class _Table(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A table of the file: a key it does not know is an error, not a default kept silently."""


class UngdomsgarantiTable(_Table):
    samtale_intervall_dager: Antall = STANDARD.samtale_intervall_dager
    kontaktperson_frist_dager: Dager = STANDARD.kontaktperson_frist_dager
    max_caseload: Antall = STANDARD.max_caseload


class LeadDaysTable(_Table):
    """rules.md §8.5: one key per alert type with a lead (the overdue types fire on the first overdue day)."""

    CAP_NAERMER_SEG: Dager = STANDARD.lead_days["CAP_NAERMER_SEG"]
    TOM_NAERMER_SEG: Dager = STANDARD.lead_days["TOM_NAERMER_SEG"]
    VURDERING_FORFALLER: Dager = STANDARD.lead_days["VURDERING_FORFALLER"]
    ALDERSGRENSE_NAERMER_SEG: Dager = STANDARD.lead_days["ALDERSGRENSE_NAERMER_SEG"]
    RATE_ENDRES: Dager = STANDARD.lead_days["RATE_ENDRES"]
    SAMTALE_FORFALLER: Dager = STANDARD.lead_days["SAMTALE_FORFALLER"]


class VarslerTable(_Table):
    lead_days: LeadDaysTable = msgspec.field(default_factory=LeadDaysTable)


class PilotTable(_Table):
    """A pilot's window and area; `fom`/`tom` left out keep the default, `fylker` left out is everywhere."""

    fom: date | UnsetType = UNSET
    tom: date | UnsetType = UNSET
    fylker: list[Fylke] | None = None


class PilotTables(_Table):
    OPPLAERING_LENGRE_VARIGHET_FORSOK: PilotTable | UnsetType = UNSET
    FIREARIG_LONNSTILSKUDD_FORSOK: PilotTable | UnsetType = UNSET


class ReglerTable(_Table):
    alder_regel: AlderRegel = STANDARD.alder_regel


class IntervallTable(_Table):
    """rules.md §8.2: months between follow-up reviews, per tiltakstype."""

    AFT: Antall = STANDARD.vurdering_intervall_maaneder["AFT"]
    MIDLERTIDIG_LONNSTILSKUDD: Antall = STANDARD.vurdering_intervall_maaneder["MIDLERTIDIG_LONNSTILSKUDD"]
    VARIG_LONNSTILSKUDD: Antall = STANDARD.vurdering_intervall_maaneder["VARIG_LONNSTILSKUDD"]
    FIREARIG_LONNSTILSKUDD_FORSOK: Antall = STANDARD.vurdering_intervall_maaneder["FIREARIG_LONNSTILSKUDD_FORSOK"]
    VTAO: Antall = STANDARD.vurdering_intervall_maaneder["VTAO"]
    VTA: Antall = STANDARD.vurdering_intervall_maaneder["VTA"]


class VurderingerTable(_Table):
    intervall_maaneder: IntervallTable = msgspec.field(default_factory=IntervallTable)


class ConfigFile(_Table):
    """The layout of contract.md §1."""

    ungdomsgaranti: UngdomsgarantiTable = msgspec.field(default_factory=UngdomsgarantiTable)
    varsler: VarslerTable = msgspec.field(default_factory=VarslerTable)
    pilot: PilotTables = msgspec.field(default_factory=PilotTables)
    regler: ReglerTable = msgspec.field(default_factory=ReglerTable)
    vurderinger: VurderingerTable = msgspec.field(default_factory=VurderingerTable)


_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>[^`]+)`(?: - at `\$\.?(?P<at>[^`]*)`)?$")
_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$\.?(?P<at>[^`]*)`)?$")


def _problem(error: msgspec.ValidationError, prefix: str = "") -> str:
    """msgspec's message with the key's path in front: `varsler.lead_days.X: unknown key`."""
    text = str(error)
    if m := _UNKNOWN.match(text):
        path = ".".join(p for p in (prefix, m["at"], m["key"]) if p)
        return f"{path}: unknown key"
    m = _AT.match(text)
    assert m is not None  # the pattern matches every string
    path = ".".join(p for p in (prefix, m["at"]) if p)
    what = m["what"].replace("`", "")
    what = what[0].lower() + what[1:] if what else what
    return f"{path}: {what}" if path else what


def decode_config(text: bytes | str) -> Regelkonfig:
    """The rule configuration a TOML text sets (every key optional); SettingsError names the key."""
    try:
        raw = msgspec.toml.decode(text, type=ConfigFile)
    except msgspec.ValidationError as e:
        raise SettingsError(_problem(e)) from None
    except msgspec.DecodeError as e:
        raise SettingsError(f"not a TOML file: {e}") from None
    return _regelkonfig(raw)


def _pilot(table: PilotTable | UnsetType, base: PilotVindu) -> PilotVindu:
    if isinstance(table, UnsetType):
        return base
    return PilotVindu(
        fom=base.fom if isinstance(table.fom, UnsetType) else table.fom,
        tom=base.tom if isinstance(table.tom, UnsetType) else table.tom,
        fylker=tuple(table.fylker) if table.fylker is not None else None,  # contract.md §1: open everywhere
    )


def _regelkonfig(raw: ConfigFile) -> Regelkonfig:
    ug = raw.ungdomsgaranti
    piloter = {
        name: _pilot(getattr(raw.pilot, name), base) for name, base in STANDARD.piloter.items()
    }
    return Regelkonfig(
        samtale_intervall_dager=ug.samtale_intervall_dager,
        kontaktperson_frist_dager=ug.kontaktperson_frist_dager,
        max_caseload=ug.max_caseload,
        lead_days=msgspec.structs.asdict(raw.varsler.lead_days),
        piloter=piloter,
        alder_regel=raw.regler.alder_regel,
        vurdering_intervall_maaneder=msgspec.structs.asdict(raw.vurderinger.intervall_maaneder),
    )


def read_config(path: Path) -> Regelkonfig:
    try:
        text = Path(path).read_bytes()
    except OSError as e:
        raise SettingsError(f"{path}: cannot be read ({e.strerror})") from None
    return decode_config(text)


def config_toml(k: Regelkonfig = STANDARD) -> str:
    """A configuration in the layout of contract.md §1 (the defaults unless `k` is given)."""
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


def defaults_toml() -> str:
    """The default configuration in the layout of contract.md §1."""
    return config_toml(STANDARD)


# --- the environment ------------------------------------------------------------------------------------------


#: nats-server's default `max_payload`, and what a message's envelope may add to the event stored: no event
#: larger than the difference is written (store.recorder), so the relay can publish every one.
NATS_MAX_PAYLOAD = 1024 * 1024
NATS_ENVELOPE_HEADROOM = 16 * 1024


class _Env(msgspec.Struct, kw_only=True):
    """A group of environment variables (each field renamed to its variable)."""


Seconds = Annotated[float, msgspec.Meta(gt=0)]


class DatabaseEnv(
    _Env,
    rename={
        "url": "DATABASE_URL",
        "command_timeout": "FORLOP_DB_COMMAND_TIMEOUT",
        "acquire_timeout": "FORLOP_DB_ACQUIRE_TIMEOUT",
        "connect_timeout": "FORLOP_DB_CONNECT_TIMEOUT",
        "retry_after": "FORLOP_DB_RETRY_AFTER",
        "request_deadline": "FORLOP_DB_REQUEST_DEADLINE",
    },
):
    url: str | None = None  # unset: the embedded server under the data directory
    # A PostgreSQL that is down or hung is answered 503 DATABASE_UNAVAILABLE (contract.md §2) within these:
    # a statement that runs longer is cancelled (asyncpg's command_timeout), a request waits at most this
    # long for a pool connection, and a new connection at most this long for the server's answer.
    command_timeout: Seconds = 5.0
    acquire_timeout: Seconds = 3.0
    connect_timeout: Seconds = 3.0
    retry_after: Annotated[int, msgspec.Meta(ge=1)] = 5  # the 503's Retry-After, seconds
    request_deadline: Seconds = 8.0  # a whole API request (api/deadline.py)


class NatsEnv(
    _Env, rename={"url": "NATS_URL", "replicas": "FORLOP_NATS_REPLICAS", "max_payload": "FORLOP_NATS_MAX_PAYLOAD"}
):
    url: str | None = None  # unset: the embedded server (comma-separated: a cluster's servers)
    replicas: Annotated[int, msgspec.Meta(ge=1)] = 1
    max_payload: Annotated[int, msgspec.Meta(ge=NATS_ENVELOPE_HEADROOM + 4096)] = NATS_MAX_PAYLOAD


class KeysEnv(
    _Env,
    rename={
        "jwt_secret": "FORLOP_JWT_SECRET",
        "person_key": "FORLOP_PERSON_KEY",
        "pseudonym_key": "FORLOP_PSEUDONYM_KEY",
        "signing_key": "FORLOP_SIGNING_KEY",
        "field_encryption": "FORLOP_FIELD_ENCRYPTION",
    },
):
    jwt_secret: str | None = None
    person_key: str | None = None
    pseudonym_key: str | None = None
    signing_key: str | None = None
    # Personal fields of events, snapshots and views encrypted with a key per person (store/encryption.py),
    # so that `forlop glem` can erase a person by destroying the key. FORLOP_FIELD_ENCRYPTION=0 turns it off.
    field_encryption: bool = True


class ServerEnv(
    _Env,
    rename={
        "data_dir": "FORLOP_DATA_DIR",
        "port": "FORLOP_PORT",
        "log_level": "FORLOP_LOG_LEVEL",
        "projection_max_lag": "FORLOP_PROJEKSJON_MAKS_ETTERSLEP",
        "keep_alive_timeout": "FORLOP_KEEP_ALIVE_TIMEOUT",
        "header_timeout": "FORLOP_HEADER_TIMEOUT",
    },
):
    data_dir: str = ".forlop"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8000
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    projection_max_lag: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    keep_alive_timeout: Annotated[int, msgspec.Meta(ge=1)] = 5
    header_timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0


class AuthEnv(
    _Env,
    rename={
        "issuer": "FORLOP_AUTH_ISSUER",
        "jwks_url": "FORLOP_AUTH_JWKS_URL",
        "audience": "FORLOP_AUTH_AUDIENCE",
        "ident_claim": "FORLOP_AUTH_IDENT_CLAIM",
        "roller_claim": "FORLOP_AUTH_ROLLER_CLAIM",
        "enheter_claim": "FORLOP_AUTH_ENHETER_CLAIM",
        "grupper": "FORLOP_AUTH_GRUPPER",
        "cors_origins": "FORLOP_CORS_ORIGINS",
    },
):
    """Identity (contract.md §1): an OpenID Connect issuer's tokens, or without `issuer` the local dev
    issuer's; and the browser origins allowed by CORS."""

    issuer: str | None = None
    jwks_url: str | None = None
    audience: str | None = None
    ident_claim: str | None = None  # unset: `NAVident`, then `sub`
    roller_claim: str = "roller"
    enheter_claim: str = "enheter"
    # An identity provider's group ids as roles and offices: `<group>=SAKSBEHANDLER,<group>=enhet:0315`.
    grupper: str = ""
    cors_origins: str = ""

    def __post_init__(self) -> None:
        if self.issuer and not self.audience:
            raise ValueError("with FORLOP_AUTH_ISSUER, FORLOP_AUTH_AUDIENCE is required")
        for pair in filter(None, (p.strip() for p in self.grupper.split(","))):
            group, sep, value = pair.partition("=")
            if not sep or not group.strip() or not value.strip():
                raise ValueError(f"in FORLOP_AUTH_GRUPPER, {pair!r} is not <group>=<ROLE> or <group>=enhet:<office>")

    def group_map(self) -> dict[str, str]:
        pairs = (p.partition("=") for p in self.grupper.split(",") if p.strip())
        return {g.strip(): v.strip() for g, _, v in pairs}

    def origins(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


class CommandEnv(_Env, rename={"config": "FORLOP_CONFIG", "today": "FORLOP_TODAY"}):
    """What `forlop api --workers N` hands to its server processes: `--config` and `--today`."""

    config: str | None = None
    today: date | None = None


_DEPLOYMENT_GROUPS: tuple[type[_Env], ...] = (DatabaseEnv, NatsEnv, KeysEnv, ServerEnv, AuthEnv)


def environment_variables() -> frozenset[str]:
    """Every variable a deployment sets (CommandEnv's are the `forlop` command's own)."""
    return frozenset(f.encode_name for group in _DEPLOYMENT_GROUPS for f in msgspec.structs.fields(group))


E = TypeVar("E", bound=_Env)


def _group(group: type[E], env: Mapping[str, str]) -> E:
    # An empty variable counts as unset (a compose file's `FOO: ""`).
    present = {k: v for k, v in env.items() if v != ""}
    try:
        return msgspec.convert(present, type=group, strict=False)
    except msgspec.ValidationError as e:
        raise SettingsError(f"environment: {_problem(e)}") from None


# --- the settings of a process ---------------------------------------------------------------------------------


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
    nats_max_payload: int = NATS_MAX_PAYLOAD  # the NATS server's max_payload (FORLOP_NATS_MAX_PAYLOAD)
    log_level: str = "INFO"
    projeksjon_maks_etterslep_sekunder: float = 30.0
    field_encryption: bool = True
    #: Seconds the API server keeps an idle keep-alive connection open, and gives a client to send a
    #: request's headers (a slow or half-sent request is closed after that).
    keep_alive_timeout: int = 5
    header_timeout: float = 10.0
    #: The `--config` file these settings were read with (handed on to server worker processes).
    config_file: Path | None = None
    #: PostgreSQL timeouts in seconds (DatabaseEnv) and the Retry-After of a 503 DATABASE_UNAVAILABLE.
    db_command_timeout: float = 5.0
    db_acquire_timeout: float = 3.0
    db_connect_timeout: float = 3.0
    db_retry_after: int = 5
    db_request_deadline: float = 8.0
    auth: AuthEnv = field(default_factory=AuthEnv)

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

    @property
    def max_event_bytes(self) -> int:
        """The largest event the store writes: what NATS takes, less the envelope's headroom."""
        return self.nats_max_payload - NATS_ENVELOPE_HEADROOM

    def command_environment(self) -> dict[str, str]:
        """The variables that give a child process (a server worker) these same settings, over the
        environment it inherits: what came from the command line rather than from the environment."""
        env = {"FORLOP_DATA_DIR": str(self.data_dir), "FORLOP_PORT": str(self.port)}
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        if self.nats_url:
            env["NATS_URL"] = self.nats_url
        if self.config_file is not None:
            env["FORLOP_CONFIG"] = str(Path(self.config_file).resolve())
        if self.today is not None:
            env["FORLOP_TODAY"] = self.today.isoformat()
        return env


def dev_secret(data_dir: Path, name: str) -> bytes:
    """The development key `name` under `data_dir/keys`, created on first use (readable by the owner only)."""
    path = data_dir / "keys" / f"{name}.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
        tmp.write_text(secrets.token_hex(32), encoding="ascii")
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # atomic: two processes starting at once keep one key
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text(encoding="ascii").strip().encode()


def load_settings(
    config_file: Path | None = None,
    *,
    data_dir: Path | None = None,
    port: int | None = None,
    nats_port: int | None = None,
    today: date | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """The settings of this process: the command line's options (the arguments) over the environment
    (`environ`, default os.environ) over the defaults; `config_file` (else FORLOP_CONFIG) sets the rules."""
    env = os.environ if environ is None else environ
    db, bus, keys = _group(DatabaseEnv, env), _group(NatsEnv, env), _group(KeysEnv, env)
    server, command, auth = _group(ServerEnv, env), _group(CommandEnv, env), _group(AuthEnv, env)
    if config_file is None and command.config is not None:
        config_file = Path(command.config)
    return Settings(
        data_dir=data_dir or Path(server.data_dir),
        database_url=db.url,
        nats_url=bus.url,
        port=port if port is not None else server.port,
        nats_port=nats_port if nats_port is not None else 4222,
        today=today if today is not None else command.today,
        regler=read_config(config_file) if config_file is not None else Regelkonfig(),
        jwt_secret=keys.jwt_secret,
        person_key=keys.person_key,
        pseudonym_key=keys.pseudonym_key,
        signing_key=keys.signing_key,
        nats_replicas=bus.replicas,
        nats_max_payload=bus.max_payload,
        log_level=server.log_level,
        projeksjon_maks_etterslep_sekunder=server.projection_max_lag,
        field_encryption=keys.field_encryption,
        keep_alive_timeout=server.keep_alive_timeout,
        header_timeout=server.header_timeout,
        config_file=config_file,
        db_command_timeout=db.command_timeout,
        db_acquire_timeout=db.acquire_timeout,
        db_connect_timeout=db.connect_timeout,
        db_retry_after=db.retry_after,
        db_request_deadline=db.request_deadline,
        auth=auth,
    )


@functools.cache
def get_settings() -> Settings:
    """The settings of a process started without a command line (read once): an API server worker."""
    return load_settings()
