"""Observability with real tools: promtool checks the alert rules and unit-tests every alert,
checks a scrape of a running `entrastream demo`, and a real Prometheus server scrapes the demo
while every PromQL expression of the dashboard and of the alert rules is evaluated through its
HTTP API.
"""

import json
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
import os

BINARY = pathlib.Path(os.environ.get("ENTRASTREAM_BIN", ROOT / "target" / "debug" / "entrastream"))
RULES = ROOT / "helm" / "entrastream" / "alerts" / "entrastream.rules.yaml"
DASHBOARD = ROOT / "helm" / "entrastream" / "dashboards" / "entrastream.json"


def tool(name):
    path = shutil.which(name)
    assert path, f"{name} is missing: install Debian's prometheus package (scripts/test does as root)"
    return path


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def test_rules_pass_promtool_check_and_their_unit_tests():
    check = subprocess.run([tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 9 rules found" in check.stdout
    tests = subprocess.run([tool("promtool"), "test", "rules", "alerts_test.yaml"], cwd=ROOT / "tests" / "promtool",
                           capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    # every alert is tested both firing and silent
    rule_names = set(re.findall(r"- alert: (\w+)", RULES.read_text()))
    test_text = (ROOT / "tests" / "promtool" / "alerts_test.yaml").read_text()
    for name in rule_names:
        blocks = re.findall(rf"alertname: {name}\n\s+exp_alerts:(.*?)(?=\n\s+- eval_time|\n  - name|\Z)", test_text, re.S)
        assert any(block.strip() == "[]" for block in blocks), f"{name} is never tested silent"
        assert any("exp_labels" in block for block in blocks), f"{name} is never tested firing"
    for annotation in ["summary", "description", "runbook_url"]:
        assert RULES.read_text().count(f"{annotation}:") == len(rule_names)
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    for anchor in re.findall(r"runbook\.md#(\w+)", RULES.read_text()):
        assert f"## {anchor}" in runbook.lower().replace("## entrastream", "## entrastream"), anchor


def test_dashboard_is_generated_and_well_formed():
    sys.path.insert(0, str(ROOT / "tools"))
    import generate_dashboard

    assert DASHBOARD.read_text() == generate_dashboard.text(), "run tools/generate_dashboard.py"
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] == "Entra ID ingest health"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert defined == {"datasource", "tenant", "stream"}
    rows = [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"]
    assert rows == ["Overview", "Graph", "Kafka"]
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"{panel['title']} has a query"
        text = json.dumps(panel)
        for used in re.findall(r"\$\{?(\w+)\}?", text):
            assert used in defined, f"{panel['title']} uses an undefined variable ${used}"
        assert all(target["expr"] for target in panel["targets"])


@pytest.fixture(scope="module")
def demo_and_prometheus(tmp_path_factory):
    work = tmp_path_factory.mktemp("observability")
    metrics_port = free_port()
    prometheus_port = free_port()
    demo = subprocess.Popen(
        [str(BINARY), "demo", "--duration", "150s", "--metrics-listen", f"127.0.0.1:{metrics_port}",
         "--progress-every", "30", "--tenants", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    config = work / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 5s, evaluation_interval: 5s}\n"
        f"rule_files: ['{RULES}']\n"
        "scrape_configs:\n"
        "  - job_name: entrastream\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n"
    )
    prometheus = subprocess.Popen(
        [tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{prometheus_port}"
    deadline = time.monotonic() + 60
    while True:
        assert demo.poll() is None, f"the demo exited: {demo.stdout.read()}"
        assert time.monotonic() < deadline, "the demo and Prometheus did not come up"
        try:
            get(f"http://127.0.0.1:{metrics_port}/metrics")
            get(f"{base}/-/ready")
            break
        except OSError:
            time.sleep(0.5)
    # a minute of demo, scraped every 5 s
    time.sleep(70)
    yield {"metrics": f"http://127.0.0.1:{metrics_port}/metrics", "prometheus": base}
    prometheus.terminate()
    demo.terminate()
    prometheus.wait(timeout=20)
    demo.wait(timeout=60)


def query(base, expr):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    answer = json.loads(get(url))
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]


def test_promtool_accepts_a_scrape_of_the_demo(demo_and_prometheus):
    scrape = get(demo_and_prometheus["metrics"])
    assert "entrastream_records_published_total" in scrape
    check = subprocess.run([tool("promtool"), "check", "metrics"], input=scrape, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_every_dashboard_query_returns_data(demo_and_prometheus):
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$tenant", ".*").replace("$stream", ".*")
            result = query(demo_and_prometheus["prometheus"], expr)
            assert result, f"panel {panel['title']!r}: no data for {expr}"


def test_every_alert_expression_evaluates_over_real_series(demo_and_prometheus):
    base = demo_and_prometheus["prometheus"]
    exprs = re.findall(r"expr: (?:\|\n((?:\s{10}.*\n)+)|(.*))", RULES.read_text())
    expressions = [(block or line).strip() for block, line in exprs]
    assert len(expressions) == 9
    for expression in expressions:
        query(base, expression)
        for metric in set(re.findall(r"\b(entrastream_\w+|up)\b", expression)):
            selector = 'up{job="entrastream"}' if metric == "up" else metric
            assert query(base, selector), f"{metric} (used by an alert) has no series"
    rules = json.loads(get(f"{base}/api/v1/rules"))
    loaded = [rule for group in rules["data"]["groups"] for rule in group["rules"]]
    assert len(loaded) == 9 and all(rule["health"] == "ok" for rule in loaded), loaded
