#!/usr/bin/python3
"""lnav reads nudged's audit log with etc/lnav/nudge_audit.json.

Usage: lnav_test.py NUDGECTL LNAV_FORMAT POLICY FEED

Makes an audit file with the real code (`nudgectl simulate`, which writes the same
lines nudged does, one bad feed record included so there is an error-level line),
loads it through `lnav -n` with only this format installed (a fresh HOME and -I), and
checks with lnav's SQL that the nudge_audit table has one row per line of the file,
the same events and levels, and the file's first and last times.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

nudgectl, fmt, policy, feed = sys.argv[1:5]
ERRORS = {"failed", "policy_rejected", "order_rejected"}
WARNINGS = {"in_doubt", "channel_paused", "retry"}
failures = []

with tempfile.TemporaryDirectory() as d:
    bad_feed = os.path.join(d, "feed.jsonl")
    with open(feed) as src, open(bad_feed, "w") as dst:
        dst.write(src.read())
        dst.write('{"type":"order","shop":"s1","order_id":"9999","buyer_id":"x1","amount":"-3","currency":"USD",'
                  '"placed_at":"2026-11-20T10:00:00Z","status":"awaiting_payment"}\n')
    audit = os.path.join(d, "audit.jsonl")
    with open(audit, "w") as out:
        subprocess.run([nudgectl, "--config", policy, "simulate", "--orders", bad_feed], stdout=out,
                       stderr=subprocess.DEVNULL, check=True)
    with open(audit) as f:
        lines = [json.loads(l) for l in f]
    events = {}
    for j in lines:
        events[j["event"]] = events.get(j["event"], 0) + 1

    config = os.path.join(d, "config")
    os.makedirs(os.path.join(config, "formats", "nudge"))
    shutil.copy(fmt, os.path.join(config, "formats", "nudge"))
    home = os.path.join(d, "home")
    os.makedirs(home)

    def sql(query):
        r = subprocess.run(["lnav", "-n", "-I", config, "-c", ";" + query, audit],
                           env=dict(os.environ, HOME=home, TERM="dumb"), capture_output=True, text=True)
        if r.returncode != 0 or r.stderr.strip():
            failures.append(f"lnav failed on {query!r}: {r.stderr.strip()}")
        rows = [l.split() for l in r.stdout.splitlines()[1:] if l.strip()]
        return rows

    rows = sql("SELECT count(*) FROM nudge_audit")
    count = int(rows[0][0]) if rows and rows[0] and rows[0][0].isdigit() else -1
    print(f"audit file: {len(lines)} lines; lnav SELECT count(*) FROM nudge_audit: {count}")
    if count != len(lines):
        failures.append(f"lnav counted {count} rows, the file has {len(lines)} lines")

    got_events = {r[0]: int(r[1]) for r in sql("SELECT event, count(*) FROM nudge_audit GROUP BY event")}
    if got_events != events:
        failures.append(f"events by lnav {got_events} != events in the file {events}")

    want_levels = {}
    for j in lines:
        lvl = "error" if j["event"] in ERRORS else "warning" if j["event"] in WARNINGS else "info"
        want_levels[lvl] = want_levels.get(lvl, 0) + 1
    got_levels = {r[0]: int(r[1]) for r in sql("SELECT log_level, count(*) FROM nudge_audit GROUP BY log_level")}
    print(f"levels: {got_levels}")
    if got_levels != want_levels or "error" not in got_levels:
        failures.append(f"levels by lnav {got_levels} != {want_levels}")

    # A part rotated by logrotate (dateext) is the same format.
    rotated = os.path.join(d, "audit.jsonl-20261126")
    shutil.copy(audit, rotated)
    audit_main, audit = audit, rotated
    rows = sql("SELECT count(*) FROM nudge_audit")
    print(f"rotated part {os.path.basename(rotated)}: {rows[0][0] if rows and rows[0] else '?'} rows")
    if not rows or rows[0] != [str(len(lines))]:
        failures.append(f"lnav does not read the rotated part {rotated} as nudge_audit: {rows}")
    audit = audit_main

    times = sql("SELECT min(log_time), max(log_time) FROM nudge_audit")
    first = lines[0]["ts"].replace("T", " ").rstrip("Z")
    last = lines[-1]["ts"].replace("T", " ").rstrip("Z")
    got = [" ".join(times[0][0:2]), " ".join(times[0][2:4])] if times and len(times[0]) == 4 else times
    print(f"times: {got}")
    if got != [first, last]:
        failures.append(f"lnav's first and last times {got} != the file's {[first, last]}")

if failures:
    print("FAILED:\n" + "\n".join(failures))
    sys.exit(1)
print("OK")
