"""Static checks of deploy/: Docker cannot run here, so the compose file, the Dockerfile and the Kubernetes
manifests are parsed and checked for what production needs. Kubernetes objects are validated offline
against the Kubernetes JSON schemas shipped inside the `kubernetes-validate` package (strict: unknown fields
are errors). The CloudNativePG `Cluster`/`ScheduledBackup` and the NATS chart values are custom resources /
chart input with no schema in that package: they are checked field by field here."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from store.settings import environment_variables
from workers.cli import resolve

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.30.0"  # the oldest minor we deploy to; newer schemas accept these objects too


def settings_variables() -> set[str]:
    """Every environment variable of a deployment that store/settings.py decodes (from its typed groups, so
    additions are caught)."""
    found = set(environment_variables())
    assert {"DATABASE_URL", "NATS_URL", "FORLOP_JWT_SECRET"} <= found, found
    return found


def command_of(cmd: list[str]) -> str:
    """The (sub)command a `forlop ...` command line runs, e.g. `varsler kjor-arbeider`; the CLI parses it
    (a bad option fails here) and runs nothing."""
    return " ".join(name for name, _ in resolve(forlop_command(cmd))[1:])


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def forlop_services(c: dict) -> dict[str, dict]:
    return {n: s for n, s in c["services"].items() if s.get("image", "").startswith("forlop")}


def forlop_command(cmd: list[str]) -> list[str]:
    assert cmd[0] == "forlop", cmd
    return cmd[1:]


def k8s_docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")) if d]


# --- Dockerfile ----------------------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_pinned_and_non_root():
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(froms) >= 2, "multi-stage"
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", text, re.M).group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    assert "latest" not in text
    assert "COPY --from=build" in text
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    cmd = re.search(r"^CMD\s+(\[.*\])", text, re.M).group(1)
    assert command_of(yaml.safe_load(cmd)) == "api"


# --- compose ---------------------------------------------------------------------------------------------------


def test_compose_has_postgres_with_standby_nats_cluster_two_apis_behind_a_proxy_and_standby_workers():
    c = compose()
    services = c["services"]
    assert services["postgres-standby"]["entrypoint"] == ["/standby.sh"]
    standby = (DEPLOY / "postgres" / "standby.sh").read_text(encoding="utf-8")
    assert "pg_basebackup" in standby and " -R" in standby and "hot_standby=on" in standby
    primary = " ".join(services["postgres"]["command"])
    assert "wal_level=replica" in primary and "max_wal_senders" in primary
    assert "REPLICATION" in (DEPLOY / "postgres" / "init-primary.sh").read_text(encoding="utf-8")

    nats = {n: s for n, s in services.items() if s.get("image", "").startswith("nats:")}
    assert len(nats) == 3
    assert len({s["command"][s["command"].index("--name") + 1] for s in nats.values()}) == 3
    conf = (DEPLOY / "nats" / "nats.conf").read_text(encoding="utf-8")
    assert "sync_interval: always" in conf and "cluster" in conf
    assert sorted(re.findall(r"nats://(nats-\d):6222", conf)) == sorted(nats)

    kinds: dict[str, int] = {}
    for s in forlop_services(c).values():
        kind = command_of(s["command"])
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds == {"api": 2, "projeksjon": 2, "relay": 2, "varsler kjor-arbeider": 2, "planlegger": 2}, kinds

    nginx = (DEPLOY / "proxy" / "nginx.conf").read_text(encoding="utf-8")
    apis = [n for n, s in forlop_services(c).items() if s["command"][1] == "api"]
    assert sorted(re.findall(r"server (api-\d):8000", nginx)) == sorted(apis)
    assert services["proxy"]["depends_on"].keys() == set(apis)


def test_compose_gives_every_forlop_process_every_setting_the_settings_module_reads():
    needed = settings_variables()
    for name, s in forlop_services(compose()).items():
        missing = needed - set(s["environment"])
        assert not missing, f"{name} lacks {sorted(missing)}"
        assert s["environment"]["FORLOP_NATS_REPLICAS"] == "3"
        assert len(s["environment"]["NATS_URL"].split(",")) == 3


def test_compose_health_checks_use_health_ready():
    c = compose()
    for name, s in c["services"].items():
        assert "healthcheck" in s, f"{name} has no health check"
        if name in forlop_services(c) or name == "proxy":
            assert "/health/ready" in " ".join(s["healthcheck"]["test"]), name


def test_compose_mounts_only_files_that_exist():
    for name, s in compose()["services"].items():
        for v in s.get("volumes", []):
            source = v.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name}: {source}"


# --- Kubernetes -----------------------------------------------------------------------------------------------

CORE = ["namespace.yaml", "configmap.yaml", "secret.yaml", "api.yaml", "workers.yaml"]


@pytest.mark.parametrize("name", CORE)
def test_kubernetes_objects_validate_against_the_schemas(name):
    for doc in k8s_docs(name):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest():
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "nats-values.yaml"}
    assert set(k["resources"]) == on_disk


def deployments() -> list[dict]:
    return [d for d in k8s_docs("api.yaml") + k8s_docs("workers.yaml") if d["kind"] == "Deployment"]


def test_deployments_have_probes_requests_settings_and_a_disruption_budget():
    config = k8s_docs("configmap.yaml")[0]
    secret = k8s_docs("secret.yaml")[0]
    budgets = [d for d in k8s_docs("api.yaml") + k8s_docs("workers.yaml") if d["kind"] == "PodDisruptionBudget"]
    kinds = set()
    for dep in deployments():
        name = dep["metadata"]["name"]
        spec = dep["spec"]
        assert spec["replicas"] >= 2, name
        (c,) = spec["template"]["spec"]["containers"]
        assert c["readinessProbe"] and c["livenessProbe"], name
        assert {"cpu", "memory"} <= set(c["resources"]["requests"]), name
        refs = {(e.get("configMapRef") or {}).get("name") for e in c["envFrom"]} | {
            (e.get("secretRef") or {}).get("name") for e in c["envFrom"]
        }
        assert {config["metadata"]["name"], secret["metadata"]["name"]} <= refs
        provided = set(config["data"]) | set(secret["stringData"]) | {e["name"] for e in c.get("env", [])}
        assert settings_variables() <= provided, f"{name} lacks {sorted(settings_variables() - provided)}"
        labels = spec["template"]["metadata"]["labels"]
        assert any(
            all(labels.get(k) == v for k, v in b["spec"]["selector"]["matchLabels"].items()) for b in budgets
        ), f"{name} has no PodDisruptionBudget"
        command = command_of(c["command"]).split()[0]
        kinds.add(command)
        if command == "api":
            assert c["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        else:
            assert "/health/ready" in " ".join(c["readinessProbe"]["exec"]["command"])
        assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert kinds == {"api", "projeksjon", "relay", "varsler", "planlegger"}
    db = [e for e in c["env"] if e["name"] == "DATABASE_URL"][0]["valueFrom"]["secretKeyRef"]
    cluster = [d for d in k8s_docs("postgres-cluster.yaml") if d["kind"] == "Cluster"][0]
    assert db == {"name": f"{cluster['metadata']['name']}-app", "key": "uri"}  # the secret CNPG writes


def test_hpa_scales_the_api():
    (hpa,) = [d for d in k8s_docs("api.yaml") if d["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "forlop-api"
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]


def test_postgres_is_a_cloudnativepg_cluster_with_a_standby_and_backups():
    docs = {d["kind"]: d for d in k8s_docs("postgres-cluster.yaml")}
    cluster = docs["Cluster"]
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    spec = cluster["spec"]
    assert spec["instances"] >= 2 and spec["minSyncReplicas"] >= 1
    assert re.fullmatch(r"\d+Gi", spec["storage"]["size"])
    assert spec["backup"]["barmanObjectStore"]["destinationPath"].startswith("s3://")
    assert spec["bootstrap"]["initdb"]["database"] == "forlop"
    assert re.search(r":\d+\.\d+$", spec["imageName"])
    backup = docs["ScheduledBackup"]
    assert backup["apiVersion"] == "postgresql.cnpg.io/v1"
    assert backup["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert len(backup["spec"]["schedule"].split()) == 6  # CNPG schedules have seconds


def test_nats_values_make_a_three_node_jetstream_cluster():
    v = yaml.safe_load((K8S / "nats-values.yaml").read_text(encoding="utf-8"))
    assert v["config"]["cluster"]["enabled"] is True and v["config"]["cluster"]["replicas"] == 3
    js = v["config"]["jetstream"]
    assert js["enabled"] and js["fileStore"]["enabled"] and js["fileStore"]["pvc"]["enabled"]
    assert js["merge"]["sync_interval"] == "always"
    assert v["podDisruptionBudget"]["enabled"] is True
    config = k8s_docs("configmap.yaml")[0]["data"]
    assert config["FORLOP_NATS_REPLICAS"] == "3" and config["NATS_URL"].startswith("nats://nats.")


def test_shell_scripts_parse():
    for script in (DEPLOY / "postgres").glob("*.sh"):
        text = script.read_text(encoding="utf-8")
        assert text.startswith("#!/bin/sh") and "set -eu" in text
        for line in text.splitlines():
            if line.strip().startswith("exec "):
                shlex.split(line)
