"""Alerts that notify, against the real programs (Debian's Prometheus, Alertmanager and Pushgateway, as
`make tools` installs them): a sync run's metrics pushed by `core.run_metrics` reach Prometheus through the
Pushgateway; the deploy rules fire on them and the deploy Alertmanager config POSTs the alerts to its webhook
receiver. Thresholds and `for` durations are promtool's tests (alerts.test.yml); here `for` is dropped and
Alertmanager's group wait shortened so the chain is shown in seconds."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import httpx
import yaml

from core.run_metrics import push_run_metrics, record_inventory_sync
from core.runtime import free_port
from core.settings import Settings
from core.suppliers.breaker import CircuitBreaker
from tests.needs import needs_tool

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
PLACEHOLDER = "http://alert-webhook.invalid/ALERT_WEBHOOK_URL"


def _alert_names(path: Path) -> set[str]:
    return {rule["alert"] for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]}


def test_every_rule_has_a_promtool_test_where_it_fires():
    tests = yaml.safe_load((DEPLOY / "prometheus" / "alerts.test.yml").read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case.get("exp_alerts")}
    assert _alert_names(DEPLOY / "prometheus" / "alerts.yml") <= fired


@needs_tool("amtool")
def test_alertmanager_config_is_valid_and_compose_fills_its_receiver():
    checked = subprocess.run(["amtool", "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]["alertmanager"]
    assert PLACEHOLDER in " ".join(compose["command"]) and "ALERT_WEBHOOK_URL" in compose["environment"]


class Webhook:
    """The on-call receiver: records every POST Alertmanager sends."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def firing(self) -> set[tuple[str, str]]:
        return {(alert["labels"]["alertname"], alert["labels"].get("supplier", ""))
                for post in self.posts for alert in post["alerts"] if alert["status"] == "firing"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _serve(stack: ExitStack, command: list[str], ready_url: str, log: Path) -> None:
    out = stack.enter_context(open(log, "wb"))
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    stack.callback(process.wait, 10)
    stack.callback(process.terminate)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(ready_url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None, log.read_text()
        time.sleep(0.2)
    raise AssertionError(f"{command[0]} not ready: {log.read_text()[-2000:]}")


@needs_tool("prometheus")
@needs_tool("alertmanager")
@needs_tool("pushgateway")
def test_a_stale_sync_and_an_open_breaker_reach_the_webhook(tmp_path):
    webhook = Webhook()
    gateway, manager, prometheus = free_port(), free_port(), free_port()
    with ExitStack() as stack:
        stack.callback(webhook.close)
        _serve(stack, ["pushgateway", f"--web.listen-address=127.0.0.1:{gateway}"],
               f"http://127.0.0.1:{gateway}/-/ready", tmp_path / "pushgateway.log")

        # A sync run: supplier A last succeeded an hour ago (interval 60 s), supplier Z's breaker opened.
        settings = Settings(pushgateway_url=f"http://127.0.0.1:{gateway}", sync_interval_ms=60_000)
        record_inventory_sync(settings, {"A": SimpleNamespace(status="ok", rows_upserted=10, rows_quarantined=0)},
                              now=time.time() - 3600)
        breaker = CircuitBreaker("Z", failure_threshold=1, reset_timeout_s=600)
        breaker.failure()
        assert push_run_metrics(settings, "inventory_sync")

        config = (DEPLOY / "alertmanager" / "alertmanager.yml").read_text().replace(PLACEHOLDER, webhook.url)
        config = re.sub(r"group_wait: \w+", "group_wait: 1s", config)
        (tmp_path / "alertmanager.yml").write_text(config)
        _serve(stack, ["alertmanager", f"--config.file={tmp_path / 'alertmanager.yml'}",
                       f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{manager}",
                       "--cluster.listen-address="],
               f"http://127.0.0.1:{manager}/-/ready", tmp_path / "alertmanager.log")

        rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
        for group in rules["groups"]:
            group["interval"] = "1s"
            for rule in group["rules"]:
                rule.pop("for", None)
        (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
        deployed = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
        job = next(job for job in deployed["scrape_configs"] if job["job_name"] == "pushgateway")
        job["static_configs"] = [{"targets": [f"127.0.0.1:{gateway}"]}]
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(tmp_path / "alerts.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{manager}"]}]}]},
            "scrape_configs": [job]}))
        _serve(stack, ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                       f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prometheus}"],
               f"http://127.0.0.1:{prometheus}/-/ready", tmp_path / "prometheus.log")

        expected = {("InventorySyncStale", "A"), ("SupplierCircuitOpen", "Z")}
        deadline = time.monotonic() + 40
        while not expected <= webhook.firing() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert expected <= webhook.firing(), (webhook.posts, (tmp_path / "prometheus.log").read_text()[-2000:])
        post = next(post for post in webhook.posts if post["commonLabels"].get("alertname") == "SupplierCircuitOpen")
        assert post["status"] == "firing" and post["commonLabels"]["severity"] == "critical"
        assert post["alerts"][0]["annotations"]["summary"] == "Supplier Z: circuit breaker open for 5 minutes"
