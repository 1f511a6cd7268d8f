"""deploy/kubernetes/: every manifest valid against the Kubernetes schemas (kubernetes-validate, strict:
no unknown field), and consistent with the exporter: the config in the ConfigMap loads, the Secret holds
the files it names, the probes are the exporter's endpoints, the pod runs as the image's user on a
read-only root, and the StatefulSet's shards are as many as its replicas."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from exporter.cli import _exporter_parser
from exporter.config import parse_config

ROOT = Path(__file__).parent.parent
K8S = ROOT / "deploy" / "kubernetes"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def kind(name: str) -> dict[str, Any]:
    found = [doc for path in MANIFESTS for doc in documents(path) if doc["kind"] == name]
    assert len(found) >= 1, name
    return found[0]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_is_valid_for_kubernetes(path: Path) -> None:
    for doc in documents(path):
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_the_kustomization_names_the_single_exporter_set() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert kustomization["resources"] == ["configmap.yaml", "secret.yaml", "deployment.yaml", "service.yaml"]
    assert all((K8S / name).is_file() for name in kustomization["resources"])


def test_the_config_loads_and_the_secret_holds_the_files_it_names(tmp_path: Path) -> None:
    text = kind("ConfigMap")["data"]["config.yaml"]
    named = set(re.findall(r"_file: /etc/huaweicloud-task-exporter/secrets/(\w+)", text))
    secret = kind("Secret")["stringData"]
    assert named and named == set(secret)
    for name, value in secret.items():  # the Secret's files, as the pod mounts them
        (tmp_path / name).write_text(value, encoding="utf-8")
    config = parse_config(text.replace("/etc/huaweicloud-task-exporter/secrets", str(tmp_path)))
    assert [t.cloud_service for t in config.targets] == ["evs"]


@pytest.mark.parametrize("name", ["Deployment", "StatefulSet"])
def test_the_pod_is_locked_down_and_probed_on_the_exporters_endpoints(name: str) -> None:
    from exporter.exposition.server import make_app

    pod = kind(name)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    user = re.search(r"^USER (\d+)", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.M)
    assert user is not None and pod["securityContext"]["runAsUser"] == int(user.group(1))
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    routes = {resource.canonical for resource in make_app(object()).router.resources()}  # type: ignore[arg-type]
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/healthy" in routes
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready" in routes
    assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"]
    secrets = next(v for v in pod["volumes"] if "secret" in v)
    mount = next(m for m in container["volumeMounts"] if m["name"] == secrets["name"])
    assert "subPath" not in mount  # a subPath mount would not see a rotated Secret
    config = next(v for v in pod["volumes"] if "configMap" in v)
    mount = next(m for m in container["volumeMounts"] if m["name"] == config["name"])
    assert "subPath" not in mount  # nor a changed ConfigMap, whatever the reload
    assert f"--config.file={mount['mountPath']}/config.yaml" in container["args"]
    assert "--config.auto-reload-interval=30s" in container["args"]  # the changed file is applied
    _exporter_parser().parse_args(container["args"])  # flags the exporter knows


def test_the_refresh_fits_the_servicemonitors_scrape_timeout(tmp_path: Path) -> None:
    monitor = yaml.safe_load((K8S / "monitoring" / "servicemonitor.yaml").read_text(encoding="utf-8"))
    (endpoint,) = monitor["spec"]["endpoints"]
    timeout = float(endpoint["scrapeTimeout"].removesuffix("s"))
    text = kind("ConfigMap")["data"]["config.yaml"]
    for name, value in kind("Secret")["stringData"].items():
        (tmp_path / name).write_text(value, encoding="utf-8")
    scrape = parse_config(text.replace("/etc/huaweicloud-task-exporter/secrets", str(tmp_path))).scrape
    assert timeout - 2 <= scrape.refresh_timeout <= timeout - scrape.timeout_offset


def test_the_statefulset_shards_as_many_as_its_replicas() -> None:
    statefulset = kind("StatefulSet")
    args = statefulset["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--shard.index=hostname" in args
    assert f"--shard.count={statefulset['spec']['replicas']}" in args
    headless = [
        doc
        for doc in documents(K8S / "statefulset.yaml")
        if doc["kind"] == "Service" and doc["metadata"]["name"] == statefulset["spec"]["serviceName"]
    ]
    assert headless and headless[0]["spec"]["clusterIP"] == "None"


def test_the_validator_refuses_what_kubernetes_would() -> None:
    deployment = kind("Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 1}}  # a misspelt field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


# --- the Prometheus Operator's kinds (deploy/kubernetes/monitoring) --------------------------------

MONITORING = K8S / "monitoring"


CRDS = ROOT / "tests" / "schemas" / "prometheus-operator"
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def strict(schema: Any) -> Any:
    """A CRD's OpenAPI v3 schema as a JSON Schema that refuses unknown fields, as the API server does with
    strict field validation (`kubectl apply --validate=strict`): an object with `properties` takes no
    others unless it preserves unknown fields; `nullable` admits null."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def crd_validator(resource: dict[str, Any]) -> jsonschema.Draft4Validator:
    """The validator of the operator's CRD for the resource's kind and version."""
    group, version = resource["apiVersion"].split("/")
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        if crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == resource["kind"]:
            (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
            return jsonschema.Draft4Validator(strict(served["schema"]["openAPIV3Schema"]))
    raise AssertionError(f"no CRD in {CRDS} for {resource['apiVersion']} {resource['kind']}")


def crd_errors(resource: dict[str, Any]) -> list[str]:
    """What the API server would refuse in the resource: its CRD's schema, and the object metadata it
    checks itself (a DNS subdomain name, string labels)."""
    validator = crd_validator(resource)
    errors = [
        f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(resource)
    ]
    metadata = resource.get("metadata", {})
    if not DNS_SUBDOMAIN.fullmatch(metadata.get("name", "")) or len(metadata["name"]) > 253:
        errors.append(f"metadata.name: {metadata.get('name')!r} is not a DNS subdomain")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.get("labels", {}).items()):
        errors.append("metadata.labels: keys and values must be strings")
    return errors


@pytest.mark.parametrize("name", ["servicemonitor.yaml", "prometheusrule.yaml"])
def test_the_operator_kinds_are_valid_against_the_operators_crds(name: str) -> None:
    (resource,) = documents(MONITORING / name)
    assert crd_errors(resource) == []


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda m: m["spec"]["endpoints"][0].update(scrapeTimeot="25s"), "Additional properties are not allowed"),
        (lambda m: m["spec"]["endpoints"][0].update(interval="30 seconds"), "does not match"),
        (lambda m: m["spec"].pop("selector"), "'selector' is a required property"),
        (lambda m: m["metadata"].update(name="Huawei_Exporter"), "is not a DNS subdomain"),
    ],
    ids=["misspelt-field", "bad-duration", "no-selector", "bad-name"],
)
def test_the_crd_check_refuses_what_the_api_server_would(change: Any, error: str) -> None:
    monitor = yaml.safe_load((MONITORING / "servicemonitor.yaml").read_text(encoding="utf-8"))
    change(monitor)
    errors = crd_errors(monitor)
    assert any(error in e for e in errors), errors


def test_a_rule_without_expr_is_refused_by_the_crd() -> None:
    (rule,) = documents(MONITORING / "prometheusrule.yaml")
    del rule["spec"]["groups"][0]["rules"][0]["expr"]
    assert any("'expr' is a required property" in e for e in crd_errors(rule))


def test_the_prometheusrule_is_alerts_rendered_and_promtool_accepts_its_groups(tmp_path: Path) -> None:
    import importlib.util
    import shutil
    import subprocess

    spec = importlib.util.spec_from_file_location("render", MONITORING / "render.py")
    assert spec is not None and spec.loader is not None
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    written = (MONITORING / "prometheusrule.yaml").read_text(encoding="utf-8")
    assert written == render.render(), "alerts/ changed: run `make k8s-rules`"
    rule = yaml.safe_load(written)
    alerts = [g["name"] for n in render.RULE_FILES for g in yaml.safe_load((ROOT / "alerts" / n).read_text())["groups"]]
    assert [g["name"] for g in rule["spec"]["groups"]] == alerts
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed")
    groups = tmp_path / "groups.yaml"
    groups.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}), encoding="utf-8")
    result = subprocess.run(["promtool", "check", "rules", str(groups)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_servicemonitor_scrapes_the_services_port() -> None:
    monitor = yaml.safe_load((MONITORING / "servicemonitor.yaml").read_text(encoding="utf-8"))
    service = kind("Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == {p["name"] for p in service["spec"]["ports"]}
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text(encoding="utf-8"))
    assert kustomization["resources"] == ["servicemonitor.yaml", "prometheusrule.yaml"]
