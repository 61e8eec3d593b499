"""Static checks of deploy/ (no Docker engine, no Kubernetes, no helm binary here) plus the scripts that
can run for real: compose files against the Compose specification's JSON schema and the deployment
plan's settings; Prometheus config and rules with promtool (unit-tested alerts); Loki/Promtail
structure; the Helm chart rendered and checked; shell scripts through bash -n and shellcheck, and
backup-db.sh / health-check.sh run against real PostgreSQL / HTTP; CI workflows against their schema."""

from __future__ import annotations

import importlib.resources
import json
import re
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from pipelines.orphan_runs import supervision_yaml
from tests.needs import needs_tool
from tests.ops_helm import Renderer, deep_merge

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
COMPOSE_FILES = ["docker-compose.yml", "compose.dev.yml", "compose.staging.yml", "compose.production.yml"]
APP_SERVICES = ["api", "relay", "webhooks", "dagster-code-server", "dagster-webserver", "dagster-daemon"]
CHART = DEPLOY / "helm" / "hotel-platform"
SCRIPTS = sorted((DEPLOY / "scripts").glob("*.sh")) + sorted((REPO / "scripts").glob("*.sh"))
DESIGN_ENV = ["DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL", "RABBITMQ_URL", "JWT_SECRET", "JWT_EXPIRY_HOURS",
              "ENCRYPTION_SECRET", "LOG_LEVEL", "RATE_LIMIT_MAX", "RATE_LIMIT_WINDOW_MS", "CONCURRENCY_LIMIT",
              "QUERY_TIMEOUT_MS", "ORDER_EXPIRY_MINUTES", "SETTLE_CYCLE_DAYS", "RISK_SCORE_THRESHOLD",
              "DEFAULT_CURRENCY", "EXCHANGE_RATE_CACHE_TTL", "SYNC_INTERVAL_MS", "RETRY_MAX_ATTEMPTS",
              "RETRY_BACKOFF_MS"]


def _load(path: Path):
    return yaml.safe_load(path.read_text())


def _vendored_schema(name: str) -> dict:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema (dev extra) ships the vendored schemas")
    files = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((files / f"{name}.json").read_text())


def _validate(schema: dict, document) -> list[str]:
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(document)]


# --- compose ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_file_matches_the_compose_spec_schema(name):
    assert _validate(_vendored_schema("compose-spec"), _load(DEPLOY / name)) == []


def test_compose_schema_check_catches_mistakes():
    broken = _load(DEPLOY / "docker-compose.yml")
    broken["services"]["api"]["depends_on"]["postgres"]["condition"] = "service_ready"
    broken["services"]["api"]["restrat"] = "always"
    errors = _validate(_vendored_schema("compose-spec"), broken)
    assert any("service_ready" in error for error in errors) and any("restrat" in error for error in errors)


def test_compose_services_follow_the_deployment_plan():
    compose = _load(DEPLOY / "docker-compose.yml")
    services = compose["services"]
    images = {services[name]["image"] for name in [*APP_SERVICES, "migrate"]}
    assert len(images) == 1, "one image for every Python entry point"
    for name, service in services.items():
        logging = service.get("logging", {})
        assert logging.get("driver") == "json-file", name
        assert logging["options"]["max-size"] == "50m" and logging["options"]["max-file"] == "5", name
        assert service.get("restart") in ("unless-stopped", "no"), name
        assert "memory" in service.get("deploy", {}).get("resources", {}).get("limits", {}) or name in (
            "prometheus", "grafana", "loki", "promtail", "postgres-exporter", "node-exporter"), name
        for dependency, condition in (service.get("depends_on") or {}).items() if isinstance(
                service.get("depends_on"), dict) else []:
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} needs a healthcheck"
    for name in [*APP_SERVICES, "redis", "rabbitmq", "postgres", "clickhouse", "proxy"]:
        check = services[name]["healthcheck"]
        assert check["interval"] and check["timeout"] and check["retries"] >= 3, name
    api = services["api"]
    assert api["command"] == ["python", "-m", "api.app"]
    assert "/health" in " ".join(api["healthcheck"]["test"])
    assert api["deploy"]["resources"]["limits"]["memory"] == "1024M"
    assert services["migrate"]["command"] == ["hotelctl", "migrate"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert compose["networks"]["monitoring"]["internal"] is True


def test_compose_overrides_only_touch_existing_services():
    base = _load(DEPLOY / "docker-compose.yml")
    for name in COMPOSE_FILES[1:]:
        override = _load(DEPLOY / name)
        assert set(override["services"]) <= set(base["services"]), name
        merged = deep_merge(base, override)
        env = merged["services"]["api"]["environment"]
        assert env["HOTEL_ENV"] == name.split(".")[1], name
    production = deep_merge(base, _load(DEPLOY / "compose.production.yml"))["services"]["api"]
    assert production["deploy"]["replicas"] >= 2 and "ports" not in production  # replicas sit behind the proxy


def test_env_example_names_every_setting_compose_needs():
    example = DEPLOY / ".env.example"
    names = {line.split("=", 1)[0] for line in example.read_text().splitlines() if re.match(r"^[A-Z_]+=", line)}
    assert set(DESIGN_ENV) <= names
    used = set()
    for name in COMPOSE_FILES:
        used |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", (DEPLOY / name).read_text()))
    assert used <= names | {"HOTEL_IMAGE", "IMAGE_TAG"}, used - names
    from core.settings import Settings

    fields = {field.upper() for field in Settings.model_fields}
    assert set(DESIGN_ENV) <= fields  # the platform reads every name the deployment sets


def test_dockerfile_entry_points_exist():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for directory in re.findall(r"^COPY (\w+) \./\1$", dockerfile, re.M):
        assert (REPO / directory).is_dir(), directory
    assert re.search(r"^USER hotel$", dockerfile, re.M), "runs as a non-root user"
    compose = _load(DEPLOY / "docker-compose.yml")
    from cli.main import app

    commands = {command.name or command.callback.__name__ for command in app.registered_commands} | {
        group.name for group in app.registered_groups}
    for service in [*APP_SERVICES, "migrate"]:
        command = compose["services"][service]["command"]
        if command[0] == "hotelctl":
            assert command[1] in commands, command
    assert (DEPLOY / "dagster" / "workspace.yaml").is_file()
    workspace = _load(DEPLOY / "dagster" / "workspace.yaml")
    assert workspace["load_from"][0]["grpc_server"]["host"] == "dagster-code-server"


# --- Prometheus, Loki, Promtail ---------------------------------------------------------------

PLAN_ALERTS = {
    "HighErrorRate": ("0.01", "2m"), "HighLatency": ("2", "5m"), "DatabaseConnectionPoolExhausted": ("0.9", "2m"),
    "RabbitMQQueueBacklog": ("10000", "10m"), "DiskSpaceLow": ("0.2", "5m"),
}


def test_alert_rules_are_the_plans():
    rules = {rule["alert"]: rule for group in _load(DEPLOY / "prometheus" / "alerts.yml")["groups"]
             for rule in group["rules"]}
    for alert, (threshold, duration) in PLAN_ALERTS.items():
        expression = " ".join(rules[alert]["expr"].split())
        assert re.search(rf"[<>] {re.escape(threshold)}$", expression), (alert, expression)
        assert rules[alert]["for"] == duration and rules[alert]["labels"]["severity"] in ("critical", "warning")
        assert expression.count("(") == expression.count(")"), alert
    assert "0.99" in rules["HighLatency"]["expr"]
    from prometheus_client import REGISTRY

    import core.metrics  # noqa: F401  (registers the API metrics)
    import core.relay  # noqa: F401  (registers the relay metrics)

    ours = {metric.name for metric in REGISTRY.collect()}
    assert {"http_requests", "http_request_duration_seconds", "outbox_backlog"} <= ours


promtool = needs_tool("promtool")


@promtool
def test_promtool_checks_rules_and_config(tmp_path):
    rules = subprocess.run(["promtool", "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
                           capture_output=True, text=True)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = _load(DEPLOY / "prometheus" / "prometheus.yml")
    shutil.copy(DEPLOY / "prometheus" / "alerts.yml", tmp_path / "alerts.yml")
    config["rule_files"] = [str(tmp_path / "alerts.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    checked = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@promtool
def test_alerts_fire_on_their_thresholds():
    result = subprocess.run(["promtool", "test", "rules", "alerts.test.yml"], cwd=DEPLOY / "prometheus",
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_scrape_targets_are_compose_services():
    services = _load(DEPLOY / "docker-compose.yml")["services"]
    config = _load(DEPLOY / "prometheus" / "prometheus.yml")
    for job in config["scrape_configs"]:
        targets = [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        targets += [f"{name}:{sd['port']}" for sd in job.get("dns_sd_configs", []) for name in sd["names"]]
        for target in targets:
            host = target.split(":")[0]
            assert host == "localhost" or host in services, (job["job_name"], target)


def test_promtail_parses_the_platforms_log_lines():
    import io
    import logging

    from core.logs import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("relay"))
    record = logging.LogRecord("relay", logging.INFO, __file__, 1, "published", None, None)
    record.context = {"count": 3}
    handler.emit(record)
    line = json.loads(stream.getvalue())
    promtail = _load(DEPLOY / "promtail" / "config.yml")
    stages = promtail["scrape_configs"][0]["pipeline_stages"]
    expressions = next(stage["json"]["expressions"] for stage in stages if "json" in stage)
    assert set(expressions.values()) <= set(line)  # every field promtail extracts exists in our lines
    labels = next(stage["labels"] for stage in stages if "labels" in stage)
    assert set(labels) == {"level", "service"}  # traceId is not a label (unbounded cardinality)
    assert promtail["clients"][0]["url"].startswith("http://loki:3100/")
    loki = _load(DEPLOY / "loki" / "local-config.yaml")
    assert loki["limits_config"]["retention_period"] == "720h" and loki["compactor"]["retention_enabled"]
    schema = loki["schema_config"]["configs"][0]
    assert (schema["schema"], schema["store"]) == ("v13", "tsdb")


# --- Helm ---------------------------------------------------------------------------------------

def _render(*value_files: str) -> dict[str, list[dict]]:
    values = _load(CHART / "values.yaml")
    for name in value_files:
        values = deep_merge(values, _load(CHART / name))
    return Renderer(CHART, values).render_chart(CHART)


@pytest.mark.parametrize("overrides", [(), ("values-staging.yaml",), ("values-production.yaml",)],
                         ids=["default", "staging", "production"])
def test_helm_chart_renders_valid_manifests(overrides):
    rendered = _render(*overrides)
    docs = [doc for documents in rendered.values() for doc in documents]
    for doc in docs:
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], doc
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap", "Job", "NetworkPolicy"} <= kinds
    deployment = rendered["api-deployment.yaml"][0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["image"].endswith(":0.1.0") and container["command"] == ["python", "-m", "api.app"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in deployment["spec"]["selector"]["matchLabels"].items())
    hpa = rendered["api-hpa.yaml"][0]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    config = rendered["configmap.yaml"][0]
    assert all(isinstance(value, str) for value in config["data"].values())  # ConfigMap data must be strings
    if overrides == ("values-production.yaml",):
        assert config["data"]["HOTEL_ENV"] == "production" and "api-podmonitor.yaml" in rendered
        assert rendered["api-podmonitor.yaml"][0]["kind"] == "PodMonitor"
    else:
        assert rendered["api-podmonitor.yaml"] == []


def test_helm_hpa_is_the_plans():
    spec = _render("values-production.yaml")["api-hpa.yaml"][0]["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10)
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
               for m in spec["metrics"] if m["type"] == "Resource"}
    assert targets == {"cpu": 70, "memory": 80}
    pods = next(m for m in spec["metrics"] if m["type"] == "Pods")["pods"]
    assert pods["metric"]["name"] == "http_requests_per_second" and pods["target"]["averageValue"] == "100"
    assert spec["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 60
    assert spec["behavior"]["scaleDown"]["policies"][0] == {"type": "Percent", "value": 25, "periodSeconds": 120}


def test_helm_dagster_runs_on_the_k8s_run_launcher():
    chart = _load(CHART / "Chart.yaml")
    dependency = next(d for d in chart["dependencies"] if d["name"] == "dagster")
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'"dagster=={dependency["version"]}"' in pyproject  # the chart follows the pinned dagster
    dagster = _load(CHART / "values.yaml")["dagster"]
    assert dagster["runLauncher"]["type"] == "K8sRunLauncher"
    deployment = dagster["dagster-user-deployments"]["deployments"][0]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "pipelines.definitions"]
    assert deployment["image"]["repository"] == _load(CHART / "values.yaml")["image"]["repository"]
    assert '"dagster-k8s==0.29.27"' in pyproject  # the run launcher's package, in the image's k8s extra
    compose_instance = _load(DEPLOY / "dagster" / "dagster.yaml")
    assert dagster["pythonLogs"]["dagsterHandlerConfig"] == compose_instance["python_logs"]["dagster_handler_config"]


def test_deployed_dagster_supervises_runs_as_hotelctl_does(monkeypatch):
    """Run monitoring and run retries: the compose instance as `hotelctl` writes them (without the worker-health
    launcher, whose process ids mean nothing across containers), and the chart's retries the same."""
    monkeypatch.setenv("DAGSTER_PG_URL", "postgresql://hotel@postgres:5432/hotel_db")
    dagster_instance_config(str(DEPLOY / "dagster"))  # Dagster's own schema accepts the file
    local = yaml.safe_load(supervision_yaml(workers_on_this_host=False))
    compose = _load(DEPLOY / "dagster" / "dagster.yaml")
    assert {key: compose[key] for key in local} == local
    assert compose["run_launcher"]["class"] == "DefaultRunLauncher"
    daemon = _load(CHART / "values.yaml")["dagster"]["dagsterDaemon"]
    assert daemon["runMonitoring"]["enabled"] is True
    assert daemon["runRetries"] == {"enabled": True, "maxRetries": local["run_retries"]["max_retries"],
                                    "retryOnAssetOrOpFailure": local["run_retries"]["retry_on_asset_or_op_failure"]}


def test_helm_renderer_refuses_what_it_does_not_know(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: x\nversion: 0.1.0\n")
    (tmp_path / "templates" / "x.yaml").write_text("a: {{ .Values.a | upper }}\n")
    with pytest.raises(ValueError, match="upper"):
        Renderer(tmp_path, {"a": "b"}).render_chart(tmp_path)


# --- scripts --------------------------------------------------------------------------------------

@needs_tool("shellcheck")
@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_script_syntax_and_shellcheck(script):
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    result = subprocess.run(["shellcheck", "-x", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def _backup(database_url: str, target: Path, **env: str) -> subprocess.CompletedProcess:
    from core.db import plain_url

    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "DATABASE_URL": plain_url(database_url), **env}
    return subprocess.run(["bash", str(DEPLOY / "scripts" / "backup-db.sh"), str(target)], env=env,
                          capture_output=True, text=True, timeout=120)


def _server_major(engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SHOW server_version_num").scalar()) // 10_000


@pytest.mark.embedded  # both paths: the machine's PostgreSQL, and the embedded 16 with Debian's pg_dump 15 beside it
@needs_tool("psql")
def test_backup_db_dumps_and_rotates(migrated, engine, tmp_path):
    import sys

    import pgserver

    for _ in range(2):  # PYTHON: how the script finds the embedded engine's own pg_dump
        result = _backup(migrated.database_url, tmp_path, BACKUP_KEEP="1", PYTHON=sys.executable)
        assert result.returncode == 0, result.stderr
    dumps = sorted(tmp_path.glob("hotel_db_*.dump"))
    assert len(dumps) == 1 and (tmp_path / f"{dumps[0].name}.sha256").exists()
    major = _server_major(engine)
    debian = Path(f"/usr/lib/postgresql/{major}/bin/pg_restore")
    restore = debian if debian.exists() else Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_restore"
    listing = subprocess.run([str(restore), "--list", str(dumps[0])], capture_output=True, text=True)
    assert "TABLE public outbox_events" in listing.stdout and "TABLE public platform_config" in listing.stdout


@pytest.mark.embedded
@needs_tool("psql")
def test_backup_with_a_pg_dump_older_than_the_server_stops_with_one_line(migrated, engine, tmp_path):
    major = _server_major(engine)
    older = sorted(p for p in Path("/usr/lib/postgresql").glob("*/bin/pg_dump") if int(p.parts[-3]) < major)
    if not older:
        pytest.skip(f"no pg_dump older than the server's PostgreSQL {major} on this machine")
    result = _backup(migrated.database_url, tmp_path, PG_BIN=str(older[-1].parent))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"backup-db.sh: the server runs PostgreSQL {major}; pg_dump {major} or newer is needed "
        f"(found: {older[-1]} ({older[-1].parts[-3]})); install postgresql-client-{major} or set PG_BIN to its "
        "directory"]
    assert not list(tmp_path.glob("hotel_db_*.dump*"))


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200 if self.path in ("/health", "/server_info") else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@needs_tool("curl")
def test_health_check_script_against_real_http():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    script = str(DEPLOY / "scripts" / "health-check.sh")
    try:
        ok = subprocess.run(["bash", script, "--timeout", "10"], env={"PATH": "/usr/bin:/bin", "API_URL": url,
                                                                       "DAGSTER_URL": url},
                            capture_output=True, text=True, timeout=60)
        assert ok.returncode == 0 and "healthy" in ok.stdout, ok.stdout + ok.stderr
    finally:
        server.shutdown()
        server.server_close()
    down = subprocess.run(["bash", script, "--timeout", "1"], env={"PATH": "/usr/bin:/bin", "API_URL": url,
                                                                    "DAGSTER_URL": url, "HEALTH_CHECK_INTERVAL": "1"},
                          capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "unhealthy" in down.stderr


# --- CI workflows -----------------------------------------------------------------------------------

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_workflow_matches_the_github_schema(workflow):
    document = _load(workflow)
    document["on"] = document.pop(True)  # YAML 1.1 reads the key `on` as true
    assert _validate(_vendored_schema("github-workflows"), document) == []


def test_the_github_workflow_runs_the_same_ci():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    test = workflow["jobs"]["test"]
    commands = [step.get("run", "") for step in test["steps"]]
    assert "bash .ci/run" in commands and not any("pytest" in command for command in commands)
    assert str(test["env"]["CI"]) == "true"  # a missing tool or broker fails instead of skipping
