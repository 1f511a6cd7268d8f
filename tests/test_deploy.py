"""Consistency checks of deploy/: the compose file, the Prometheus config and the exporter config.

Docker is not needed: the files are parsed, every path they mount or build is looked up in the
repository, and container paths are followed through the mounts to the files they name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
PROMETHEUS_FILE = DEPLOY / "prometheus.yml"
EXPORTER_CONFIG = DEPLOY / "config.compose.yaml"

# The exporter's documented default port (`--web.listen-address 0.0.0.0:9898`).
DEFAULT_PORT = 9898
SIMULATOR_LISTEN = "0.0.0.0:9899"
EXPORTER_JOB = "huaweicloud-task-exporter"
CONFIG_IN_CONTAINER = "/etc/huaweicloud-task-exporter/config.yaml"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


COMPOSE: dict[str, Any] = load_yaml(COMPOSE_FILE)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def bind_mounts(service: str) -> list[tuple[Path, PurePosixPath]]:
    """(host path, container path) of the service's bind mounts; named volumes are left out."""
    mounts = []
    for volume in SERVICES[service].get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") != "bind":
                continue
            source, target = volume["source"], volume["target"]
        else:
            source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append(((DEPLOY / source).resolve(), PurePosixPath(target)))
    return mounts


def host_path(service: str, container_path: str) -> Path:
    """The repository file that `container_path` is inside the service's container."""
    wanted = PurePosixPath(container_path)
    for source, target in bind_mounts(service):
        if wanted == target or target in wanted.parents:
            return source.joinpath(*wanted.relative_to(target).parts)
    raise AssertionError(f"{container_path} is not mounted into {service}")


def container_ports(service: str) -> set[int]:
    """Container side of the published ports ("127.0.0.1:9898:9898", "9898:9898", "9898")."""
    ports = set()
    for port in SERVICES[service].get("ports", []):
        spec = str(port["target"]) if isinstance(port, dict) else str(port)
        ports.add(int(spec.split(":")[-1].split("/")[0]))
    return ports


def flag_value(command: list[str], flag: str) -> str | None:
    """The value of `--flag value` or `--flag=value` in a command list."""
    for index, arg in enumerate(command):
        if arg == flag and index + 1 < len(command):
            return command[index + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def exporter_scrape_config() -> dict[str, Any]:
    (job,) = [j for j in load_yaml(PROMETHEUS_FILE)["scrape_configs"] if j["job_name"] == EXPORTER_JOB]
    assert isinstance(job, dict)
    return job


# ----------------------------------------------------------------------------------------- compose
def test_compose_has_the_four_services() -> None:
    assert set(SERVICES) == {"simulator", "exporter", "prometheus", "grafana"}


def test_every_relative_path_the_compose_file_uses_exists() -> None:
    checked = 0
    for name, service in SERVICES.items():
        build = service.get("build")
        if build is not None:
            context = DEPLOY / (build if isinstance(build, str) else build["context"])
            assert context.is_dir(), f"{name}: build context {context} missing"
            dockerfile = context / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
            checked += 1
        for source, _ in bind_mounts(name):
            assert source.exists(), f"{name}: mounts {source}, which does not exist"
            assert REPO in (source, *source.parents), f"{name}: mounts {source} from outside the repository"
            checked += 1
    assert checked >= 8


def test_simulator_and_exporter_are_the_root_dockerfile_image() -> None:
    for name in ("simulator", "exporter"):
        build = SERVICES[name]["build"]
        assert (DEPLOY / build["context"]).resolve() == REPO
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile"
    assert SERVICES["simulator"]["image"] == SERVICES["exporter"]["image"]
    assert SERVICES["simulator"]["command"] == ["simulate", "--listen", SIMULATOR_LISTEN]


def test_exporter_listens_on_the_default_port_and_publishes_it() -> None:
    command = SERVICES["exporter"]["command"]
    listen = flag_value(command, "--web.listen-address")
    if listen is not None:
        assert listen.rsplit(":", 1)[1] == str(DEFAULT_PORT)
    assert DEFAULT_PORT in container_ports("exporter")


def test_dockerfile_exposes_the_default_port() -> None:
    exposed = [line.split()[1:] for line in (REPO / "Dockerfile").read_text().splitlines() if line.startswith("EXPOSE")]
    assert [str(DEFAULT_PORT)] in exposed, exposed


def test_exporter_reads_the_mounted_compose_config() -> None:
    config_file = flag_value(SERVICES["exporter"]["command"], "--config.file")
    assert config_file == CONFIG_IN_CONTAINER
    assert host_path("exporter", config_file) == EXPORTER_CONFIG


# ----------------------------------------------------------------------------------------- prometheus
def test_prometheus_reads_the_mounted_config() -> None:
    config_file = flag_value(SERVICES["prometheus"]["command"], "--config.file")
    assert config_file is not None
    assert host_path("prometheus", config_file) == PROMETHEUS_FILE


def test_prometheus_scrapes_the_exporter_service_on_the_default_port() -> None:
    job = exporter_scrape_config()
    targets = [t for static in job["static_configs"] for t in static["targets"]]
    assert f"exporter:{DEFAULT_PORT}" in targets
    assert job["scrape_interval"] == "30s"
    assert job["scrape_timeout"] == "25s"


def test_rule_files_exist_and_are_all_the_rules_in_alerts() -> None:
    named = [host_path("prometheus", rule_file) for rule_file in load_yaml(PROMETHEUS_FILE)["rule_files"]]
    for path in named:
        assert path.is_file(), f"rule file {path} missing"
    expected = {p.resolve() for p in (REPO / "alerts").glob("*.yaml") if "test" not in p.name}
    assert set(named) == expected


def test_promtool_accepts_the_prometheus_config(tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not on PATH")
    # The rule files are container paths: point them at the repository's files for promtool.
    config = load_yaml(PROMETHEUS_FILE)
    config["rule_files"] = [str(host_path("prometheus", f)) for f in config["rule_files"]]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = subprocess.run(
        ["promtool", "check", "config", str(checked)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"promtool check config:\n{result.stdout}\n{result.stderr}"


# ----------------------------------------------------------------------------------------- grafana
def test_grafana_provisioning_files_and_dashboards_are_mounted_where_grafana_looks() -> None:
    provider = host_path("grafana", "/etc/grafana/provisioning/dashboards/huaweicloud.yaml")
    assert provider == REPO / "dashboards" / "provisioning" / "dashboards.yaml"
    datasource = host_path("grafana", "/etc/grafana/provisioning/datasources/prometheus.yaml")
    assert datasource == REPO / "dashboards" / "provisioning" / "datasource.example.yaml"
    (provider_config,) = load_yaml(provider)["providers"]
    assert host_path("grafana", provider_config["options"]["path"]) == REPO / "dashboards"
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert host_path("grafana", home).is_file()


def test_grafana_datasource_points_at_the_prometheus_service() -> None:
    (datasource,) = load_yaml(REPO / "dashboards" / "provisioning" / "datasource.example.yaml")["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    assert 9090 in container_ports("prometheus")
    assert datasource["jsonData"]["timeInterval"] == exporter_scrape_config()["scrape_interval"]


# ----------------------------------------------------------------------------------------- exporter config
def test_compose_config_points_every_target_at_the_simulator() -> None:
    config = load_yaml(EXPORTER_CONFIG)
    accounts = {account["name"]: account for account in config["accounts"]}
    assert accounts["demo"]["auth"] == {"type": "token", "token": "${HWC_TOKEN}"}
    exporter = COMPOSE["services"]["exporter"]
    assert exporter["environment"]["HWC_TOKEN"] == "demo-token"  # the fake cloud's static token
    simulator = f"http://simulator:{SIMULATOR_LISTEN.rsplit(':', 1)[1]}"
    # Every service of the fake cloud's default scenario (and no other) is configured.
    from exporter.simulator import default_scenario

    in_scenario = {target.cloud_service for target in default_scenario().targets()}
    assert {service["cloud_service"] for service in config["services"]} == in_scenario
    for service in config["services"]:
        assert service["endpoint"] == simulator, service["cloud_service"]
        assert service["account"] in accounts


def test_compose_config_passes_the_exporters_config_check() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(EXPORTER_CONFIG), "--config.check"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "HWC_TOKEN": "demo-token"},
        check=False,
    )
    assert result.returncode == 0, f"--config.check:\n{result.stdout}\n{result.stderr}"


def test_default_port_is_the_exporters_default() -> None:
    from exporter.cli import DEFAULT_LISTEN, parse_listen

    assert parse_listen(DEFAULT_LISTEN)[1] == DEFAULT_PORT


def test_compose_config_tracks_the_fake_clouds_default_scenario() -> None:
    from exporter.simulator import default_scenario

    services = yaml.safe_load(EXPORTER_CONFIG.read_text())["services"]
    tracked = {(s["cloud_service"], s["project_id"]): s.get("tasks") for s in services}
    # A service fanned out over the scenario's parents (DMS instances, CCE clusters, AS groups) discovers
    # each parent's tasks: its target gives no parent and no tasks.
    fanned = default_scenario().sections["parents"]
    expected = {
        (t.cloud_service, t.project_id): None if t.cloud_service in fanned else t.task_ids
        for t in default_scenario().targets()
    }
    assert tracked == expected
    for service in services:
        if service["cloud_service"] in fanned:
            assert service["discover"] is True and "params" not in service, service
