#!/usr/bin/python3
"""Lateness: RATE reminders fall due per second for SECONDS seconds (distinct buyers,
due instants spread evenly, outbox channel). The orders are ingested ahead of time;
lateness is a send's `sending` audit time minus its step's due time. Prints p50, p99
and max.

usage: bench/lateness.py [RATE] [SECONDS] [LEAD_SECONDS]   (default 1000, 60, 40)
LEAD_SECONDS is how long after the import the first step falls due: the ingest must
finish before (the benchmark says so if it did not).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def main():
    rate = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    lead = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    n = rate * seconds
    w = B.Workdir("lateness")
    try:
        t0 = B.now_ms() + lead * 1000
        due = {}
        lines = []
        for i in range(n):
            at = t0 + (i * 1000) // rate
            due["o%d" % i] = at
            lines.append(B.order_line("o%d" % i, "b%d" % i, at - B.HOUR))
        w.import_lines(lines)
        w.start()
        w.wait_for(lambda: w.count("SELECT COUNT(*) FROM audit WHERE event='sending'") >= n,
                   lead + seconds + 600, "%d sends" % n, every=0.5)
        c = w.connect()
        ingested_at = c.execute("SELECT MAX(ts) FROM audit WHERE event='scheduled'").fetchone()[0]
        late = []
        for (line,) in c.execute("SELECT line FROM audit WHERE event='sending'"):
            j = json.loads(line[:line.rindex(',"hash"')] + "}")
            late.append(B.parse_iso(j["ts"]) - due[j["orders"][0]])
        c.close()
        rss = w.peak_rss_kib()
    finally:
        w.cleanup()
    if ingested_at > t0:
        print("note: the ingest ended %d ms after the first due instant; the first sends are late because of it"
              % (ingested_at - t0))
    late.sort()
    B.report("lateness, %d due/s for %d s" % (rate, seconds), [
        ("lateness_p50", B.percentile(late, 50), "ms", "sending - due, p50"),
        ("lateness_p99", B.percentile(late, 99), "ms", "sending - due, p99"),
        ("lateness_max", late[-1], "ms", "sending - due, max"),
        ("lateness_peak_rss", rss / 1024.0, "MiB", "nudged peak RSS"),
    ])


if __name__ == "__main__":
    main()
