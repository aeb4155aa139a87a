#!/usr/bin/env python3
"""Writes helm/entrastream/dashboards/entrastream.json: the "Entra ID ingest health" Grafana dashboard.

    python3 tools/generate_dashboard.py

tests/python/test_observability.py checks the file is what this script writes, checks its
structure, and evaluates every query against a real Prometheus scraping `entrastream demo`.
"""

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
SELECTOR = 'tenant=~"$tenant", stream=~"$stream"'
TENANT_SELECTOR = 'tenant=~"$tenant"'

panels = []
next_id = 1
y = 0


def row(title):
    global next_id, y
    panels.append({"id": next_id, "type": "row", "title": title, "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    next_id += 1
    y += 1


def panel(title, kind, targets, width=8, unit="short", description=""):
    global next_id
    x = sum(p["gridPos"]["w"] for p in panels if p["gridPos"]["y"] == y and p["type"] != "row")
    if x + width > 24:
        advance()
        x = 0
    panels.append({
        "id": next_id,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "right"}} if kind == "timeseries" else {},
        "targets": [
            {"refId": chr(ord("A") + index), "expr": expr, "legendFormat": legend,
             "datasource": {"type": "prometheus", "uid": "${datasource}"}}
            for index, (expr, legend) in enumerate(targets)
        ],
    })
    next_id += 1


def advance():
    global y
    y += 8


row("Overview")
panel("Records published per second, by stream", "timeseries",
      [(f"sum by (stream) (rate(entrastream_records_published_total{{{SELECTOR}}}[5m]))", "{{stream}}")],
      unit="ops", description="Records acknowledged by Kafka, per stream.")
panel("Watermark lag", "timeseries",
      [(f"max by (tenant, stream) (entrastream_watermark_lag_seconds{{{SELECTOR}}})", "{{tenant}} {{stream}}")],
      unit="s", description="How far behind real time each stream is complete.")
panel("Tenants in trouble", "stat",
      [(f'count(entrastream_tenant_state{{{TENANT_SELECTOR}, state!="ok"}} == 1) or vector(0)', "tenants")],
      description="Tenants whose credentials, permission or licence block a stream.")
advance()
panel("Stream states", "table",
      [(f"entrastream_stream_state{{{SELECTOR}}} == 1", "{{tenant}} {{stream}} {{state}}")],
      width=12, description="The state of every stream: starting, catching_up, caught_up, retrying, throttled, unlicensed, forbidden, auth_failed, rejected.")
panel("Freshness", "timeseries",
      [(f"max by (stream) (entrastream_freshness_seconds{{{SELECTOR}}})", "{{stream}}")],
      width=6, unit="s", description="Now minus the newest event time published.")
panel("Late records per second (found by reconciliation)", "timeseries",
      [(f"sum by (stream) (rate(entrastream_records_late_total{{{SELECTOR}}}[15m]))", "{{stream}}")],
      width=6, unit="ops")
advance()
panel("Ready", "stat", [("min(entrastream_ready)", "ready")], width=4,
      description="1 while /readyz answers 200.")
panel("Last committed batch", "stat",
      [(f"time() - max(entrastream_last_success_timestamp_seconds{{{SELECTOR}}})", "seconds ago")],
      width=4, unit="s")
panel("Deduplicated records per second", "timeseries",
      [(f"sum by (stream) (rate(entrastream_records_deduplicated_total{{{SELECTOR}}}[5m]))", "{{stream}}")],
      width=8, unit="ops")
panel("Version", "stat", [("max by (version) (entrastream_build_info)", "{{version}}")], width=8)
advance()

row("Graph")
panel("Graph requests per second, by status class", "timeseries",
      [(f"sum by (status_class) (rate(entrastream_graph_requests_total{{{SELECTOR}}}[5m]))", "{{status_class}}")],
      unit="reqps")
panel("Throttled requests (429) per second", "timeseries",
      [(f"sum by (tenant) (rate(entrastream_graph_throttled_total{{{SELECTOR}}}[5m]))", "{{tenant}}")],
      unit="reqps")
panel("Retry-After asked, seconds per hour", "timeseries",
      [(f"sum by (tenant) (increase(entrastream_graph_retry_after_seconds_total{{{SELECTOR}}}[1h]))", "{{tenant}}")],
      unit="s")
advance()
panel("Page latency", "timeseries",
      [(f"histogram_quantile(0.5, sum by (le) (rate(entrastream_graph_page_duration_seconds_bucket{{{SELECTOR}}}[5m])))", "p50"),
       (f"histogram_quantile(0.95, sum by (le) (rate(entrastream_graph_page_duration_seconds_bucket{{{SELECTOR}}}[5m])))", "p95")],
      unit="s")
panel("Graph errors per second, by class", "timeseries",
      [(f'sum by (status_class) (rate(entrastream_graph_requests_total{{{SELECTOR}, outcome="error"}}[5m])) or vector(0)', "{{status_class}}")],
      unit="reqps", description="5xx, timeouts, broken bodies, 401/403, ... (0 when Graph is healthy).")
panel("Token requests", "timeseries",
      [(f"sum by (tenant, outcome) (increase(entrastream_token_requests_total{{{TENANT_SELECTOR}}}[15m]))", "{{tenant}} {{outcome}}")])
advance()

row("Kafka")
panel("Produce rate", "timeseries",
      [(f"sum(rate(entrastream_records_published_total{{{SELECTOR}}}[5m]))", "records/s")], unit="ops")
panel("Batch acknowledgement latency", "timeseries",
      [(f"histogram_quantile(0.95, sum by (le) (rate(entrastream_kafka_batch_duration_seconds_bucket{{{SELECTOR}}}[5m])))", "p95")],
      unit="s", description="A batch's first produce to its last acknowledgement.")
panel("Records in flight", "timeseries", [("sum(entrastream_kafka_records_in_flight)", "in flight")])
advance()
panel("Dead-lettered records per hour", "timeseries",
      [(f"sum by (stream) (increase(entrastream_records_dead_lettered_total{{{SELECTOR}}}[1h])) or vector(0)", "{{stream}}")])
panel("Batches per second, by outcome", "timeseries",
      [(f"sum by (outcome) (rate(entrastream_batches_total{{{SELECTOR}}}[5m]))", "{{outcome}}")], unit="ops")
panel("Checkpoint commit latency", "timeseries",
      [(f"histogram_quantile(0.95, sum by (le) (rate(entrastream_checkpoint_commit_duration_seconds_bucket{{{SELECTOR}}}[5m])))", "p95")],
      unit="s")
advance()
panel("Cursor ids held, by stream", "timeseries",
      [(f"max by (tenant, stream) (entrastream_checkpoint_ids{{{SELECTOR}}})", "{{tenant}} {{stream}}")],
      width=12, description="Ids each cursor holds within the lateness horizon. A whole cursor takes ~32 bytes per id; the kafka store refuses one above checkpoint.max_record_bytes (16 MiB: ~500,000 ids).")
panel("Checkpoint commits per second, by kind", "timeseries",
      [(f"sum by (kind) (rate(entrastream_checkpoint_commits_total{{{SELECTOR}}}[5m]))", "{{kind}}")],
      width=12, unit="ops", description="whole: every id the cursor holds; delta: the position and the ids published since the previous commit.")

DASHBOARD = {
    "uid": "entrastream-ingest-health",
    "title": "Entra ID ingest health",
    "description": "entrastream: throughput, lag, Graph throttling and errors, Kafka delivery, broken tenants.",
    "tags": ["entrastream", "entra-id", "kafka"],
    "timezone": "browser",
    "schemaVersion": 39,
    "version": 1,
    "editable": True,
    "refresh": "30s",
    "time": {"from": "now-6h", "to": "now"},
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0, "refresh": 1},
        {"name": "tenant", "label": "Tenant", "type": "query",
         "datasource": {"type": "prometheus", "uid": "${datasource}"},
         "query": {"query": "label_values(entrastream_records_received_total, tenant)", "refId": "tenant"},
         "definition": "label_values(entrastream_records_received_total, tenant)",
         "multi": True, "includeAll": True, "allValue": ".*", "current": {}, "refresh": 2, "sort": 1},
        {"name": "stream", "label": "Stream", "type": "query",
         "datasource": {"type": "prometheus", "uid": "${datasource}"},
         "query": {"query": 'label_values(entrastream_records_received_total{tenant=~"$tenant"}, stream)', "refId": "stream"},
         "definition": 'label_values(entrastream_records_received_total{tenant=~"$tenant"}, stream)',
         "multi": True, "includeAll": True, "allValue": ".*", "current": {}, "refresh": 2, "sort": 1},
    ]},
    "annotations": {"list": []},
    "panels": panels,
}


def text():
    return json.dumps(DASHBOARD, indent=2) + "\n"


if __name__ == "__main__":
    path = ROOT / "helm" / "entrastream" / "dashboards" / "entrastream.json"
    path.write_text(text())
    print(f"wrote {path.relative_to(ROOT)}: {len(panels)} panels")
