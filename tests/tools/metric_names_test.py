#!/usr/bin/python3
"""The Grafana dashboard and the alerting rules use only metrics nudged serves.

Usage: metric_names_test.py NUDGED DASHBOARD.json ALERTS.yml

Starts the real nudged with metrics on a free loopback port, scrapes /metrics, and
checks that every nudge_* name in the dashboard's queries and the rules' expressions
is a served family (a histogram's _bucket, _sum and _count included). The dashboard's
queries must also be valid PromQL: they are checked as recording rules by
`promtool check rules`, with Grafana's variables replaced.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

# Metrics this test's inbox-fed nudged cannot serve, each with the test that shows
# nudged serving it.
NOT_SERVED_YET = {
    "nudge_token_expiry_timestamp_seconds":
        "served only for an aliexpress source whose token expiry is known; "
        "tests/integration/aliexpress_test.cpp scrapes it",
}

nudged, dashboard_path, alerts_path = sys.argv[1:4]
failures = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape_served_names():
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        policy = os.path.join(d, "nudge.yaml")
        with open(policy, "w") as f:
            f.write(f"""version: 1
store: nudge.db
audit_log: audit.jsonl
source: {{type: inbox, every: 1s}}
campaigns:
  - {{name: default, match: {{}}, steps: [{{name: first, after: 0s, channel: outbox, template: t}}]}}
channels:
  outbox: {{type: outbox, dir: outbox}}
templates:
  t:
    en: {{subject: "Order {{{{first_order_id}}}}", body: "Hi {{{{buyer_name}}}}."}}
metrics: {{port: {port}}}
""")
        with open(os.path.join(d, "nudged.log"), "w") as log:
            proc = subprocess.Popen([nudged, "--config", policy], stderr=log, stdout=subprocess.DEVNULL)
        try:
            body = None
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                        body = r.read().decode()
                    if "nudge_last_poll_age_seconds " in body:  # after the first poll
                        break
                except OSError:
                    pass
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
        if body is None:
            with open(os.path.join(d, "nudged.log")) as f:
                sys.exit(f"no /metrics from nudged:\n{f.read()}")
    names = set()
    for m in re.finditer(r"^# TYPE (\S+) (\S+)$", body, re.M):
        names.add(m.group(1))
        if m.group(2) == "histogram":
            names.update(m.group(1) + s for s in ("_bucket", "_sum", "_count"))
    return names


def names_in(expr):
    return set(re.findall(r"\bnudge_[a-zA-Z0-9_:]*", expr))


served = scrape_served_names()
print(f"nudged serves {len(served)} names: {', '.join(sorted(served))}")

with open(dashboard_path) as f:
    dashboard = json.load(f)
dash_exprs = [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]
for var in dashboard.get("templating", {}).get("list", []):
    q = var.get("query")
    if isinstance(q, dict):
        dash_exprs.append((f"variable {var['name']}", re.sub(r"^label_values\((\w+),.*$", r"\1", q["query"])))
with open(alerts_path) as f:
    rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
alert_exprs = [(r["alert"], r["expr"]) for r in rules]

used = {}
for where, expr in dash_exprs + alert_exprs:
    for n in names_in(expr):
        used.setdefault(n, []).append(where)
pending = []
for n, where in sorted(used.items()):
    if n in served:
        continue
    if n in NOT_SERVED_YET:
        pending.append(f"{n} ({NOT_SERVED_YET[n]}), used by {', '.join(where)}")
        continue
    failures.append(f"{n} is not served by nudged, but {', '.join(where)} use it")
print(f"dashboard: {len(dash_exprs)} queries; alerts: {len(alert_exprs)} rules; "
      f"{len(used)} metric names used, {len(used) - len(pending)} served")
for p in pending:
    print(f"served only elsewhere, checked there: {p}")
if len(dash_exprs) < 10:
    failures.append(f"the dashboard has only {len(dash_exprs)} queries")

# The dashboard's PromQL, checked by promtool as recording rules.
with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
    recs = []
    for i, (where, expr) in enumerate(dash_exprs):
        e = expr.replace("$__rate_interval", "5m").replace("$instance", ".*")
        recs.append({"record": f"dashboard:query_{i}", "expr": e})
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recs}]}, f)
    rules_file = f.name
r = subprocess.run(["promtool", "check", "rules", rules_file], capture_output=True, text=True)
os.unlink(rules_file)
if r.returncode != 0:
    failures.append(f"promtool rejects a dashboard query:\n{r.stdout}{r.stderr}")
else:
    print(f"promtool check rules: {len(recs)} dashboard queries are valid PromQL")

if failures:
    print("FAILED:\n" + "\n".join(failures))
    sys.exit(1)
print("OK")
