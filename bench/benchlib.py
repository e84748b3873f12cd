"""Shared pieces of the benchmarks in bench/: a policy, feed lines, running the real
nudged and nudgectl from the Release build, reading the store and printing figures.

Every benchmark prints its figures as lines `name value unit` and then a table.
The binaries come from $NUDGE_BENCH_BUILD (default build-release/, made by bench/run).
Work folders go under $NUDGE_BENCH_TMP (default /var/tmp: a real disk, so fsync costs
what it costs in production).
"""
import datetime
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("NUDGE_BENCH_BUILD", os.path.join(ROOT, "build-release"))
NUDGED = os.path.join(BUILD, "nudged")
NUDGECTL = os.path.join(BUILD, "nudgectl")

HOUR = 3600 * 1000

# One campaign, two steps: `first` one hour after the order is placed (the payment
# deadline), `second` a day later. Distinct buyers never meet the per-buyer caps.
POLICY = """version: 1
store: {dir}/nudge.db
audit_log: {dir}/audit.jsonl
source: {{type: inbox, every: 1s}}
payment: {{deadline: 1h, closes_after: 20d, stop_before_close: 1h}}
campaigns:
{trial}  - name: default
    match: {{}}
    steps:
      - {{name: first, after: 0s, channel: {channel}, template: gentle}}
      - {{name: second, after: 24h, channel: {channel}, template: gentle}}
limits:
  per_order: 2
  per_buyer: [{{max: 1, within: 24h}}, {{max: 3, within: 7d}}]
  when_limited: defer
  merge: true
zones: {{default: UTC}}
channels:
  outbox: {{type: outbox, dir: {dir}/outbox}}
{discard}templates:
  gentle:
    en: {{subject: "Your order {{{{first_order_id}}}} is waiting", body: "Hi {{{{buyer_name}}}}, {{{{order_count}}}} order(s), {{{{total}}}}, closes in {{{{closes_in}}}}."}}
"""

TRIAL = """  - name: trial
    match: {{shops: [{shop}]}}
    steps:
      - {{name: first, after: 0s, channel: discard, template: gentle}}
      - {{name: second, after: 24h, channel: discard, template: gentle}}
"""


def now_ms():
    return int(time.time() * 1000)


def iso(ms):
    d = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def parse_iso(text):
    d = datetime.datetime.strptime(text.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f" if "." in text else "%Y-%m-%dT%H:%M:%S")
    return int(d.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000 + 0.5)


def order_line(order_id, buyer, placed_ms, shop="s1"):
    return json.dumps({"type": "order", "shop": shop, "order_id": order_id, "buyer_id": buyer,
                       "buyer_name": "Buyer " + buyer, "buyer_country": "ES", "amount": "25.00",
                       "currency": "USD", "placed_at": iso(placed_ms), "status": "awaiting_payment"})


class Workdir:
    def __init__(self, name, channel="outbox", discard_shop=None):
        """channel: the default campaign's. discard_shop: the orders of that shop go to
        a first campaign of the same steps on the discard channel."""
        base = os.environ.get("NUDGE_BENCH_TMP", "/var/tmp")
        self.dir = tempfile.mkdtemp(prefix="nudge-bench-%s-" % name, dir=base)
        self.policy = os.path.join(self.dir, "nudge.yaml")
        with open(self.policy, "w") as f:
            # Binaries older than the discard channel refuse the type: name it only when used.
            used = channel == "discard" or discard_shop
            discard = "  discard: {type: discard}\n" if used else ""
            trial = TRIAL.format(shop=discard_shop) if discard_shop else ""
            f.write(POLICY.format(dir=self.dir, channel=channel, discard=discard, trial=trial))
        self.db = os.path.join(self.dir, "nudge.db")
        self.proc = None
        self.log = None

    def ctl(self, *args, check=True):
        r = subprocess.run([NUDGECTL, "--config", self.policy] + list(args), capture_output=True, text=True)
        if check and r.returncode != 0:
            sys.exit("nudgectl %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr[-2000:]))
        return r

    def import_lines(self, lines):
        feed = os.path.join(self.dir, "feed-%d.jsonl" % now_ms())
        with open(feed, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.ctl("orders", "import", feed)
        os.unlink(feed)

    def start(self):
        self.log = open(os.path.join(self.dir, "nudged.log"), "ab")
        # NUDGE_BENCH_PERF=FILE records a profile of nudged (perf record -g) into FILE.
        perf = os.environ.get("NUDGE_BENCH_PERF")
        wrap = ["perf", "record", "--call-graph", os.environ.get("NUDGE_BENCH_PERF_CG", "dwarf,16384"), "-o", perf, "--"] if perf else []
        self.proc = subprocess.Popen(wrap + [NUDGED, "--config", self.policy], stdout=self.log, stderr=self.log)
        self.wait_for(lambda: self.count("SELECT COUNT(*) FROM audit WHERE event='started'") > 0, 60, "nudged to start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cpu_seconds(self):
        """User + system CPU time nudged has used so far: its own work, whatever else
        runs on the machine (a shared machine moves wall-clock rates by 2x)."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def rss_parts(self):
        """The daemon's resident memory now, by kind (anonymous, file, shared), for a note."""
        parts = {}
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
                    parts[line.split(":")[0]] = int(line.split()[1]) // 1024
        return " ".join("%s %d MiB" % kv for kv in parts.items())

    def connect(self):
        c = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=30)
        return c

    def count(self, sql, *args):
        try:
            c = self.connect()
            try:
                row = c.execute(sql, args).fetchone()  # None: no row yet (a source not polled yet)
                return (row[0] if row else 0) or 0
            finally:
                c.close()
        except sqlite3.OperationalError:
            return 0

    def wait_for(self, cond, timeout_s, what, every=0.2):
        end = time.time() + timeout_s
        while time.time() < end:
            if self.proc is not None and self.proc.poll() is not None:
                sys.exit("nudged exited (%s) while waiting for %s; see %s/nudged.log" % (self.proc.returncode, what, self.dir))
            if cond():
                return
            time.sleep(every)
        sys.exit("timed out after %d s waiting for %s (work folder %s)" % (timeout_s, what, self.dir))

    def cleanup(self):
        self.stop()
        # bench/run removes all work folders at its end (NUDGE_BENCH_LATER): tens of
        # thousands of files deleted between benchmarks would slow the next one's file
        # creation (ext4 skips recently freed inodes).
        if not os.environ.get("NUDGE_BENCH_KEEP") and not os.environ.get("NUDGE_BENCH_LATER"):
            shutil.rmtree(self.dir, ignore_errors=True)


def audit_ts(w, event, order="DESC"):
    return w.count("SELECT ts FROM audit WHERE event=? ORDER BY seq %s LIMIT 1" % order, event)


def report(title, figures):
    """figures: list of (name, value, unit, what). Prints lines, then a table."""
    for name, value, unit, _ in figures:
        print("%s %s %s" % (name, fmt(value), unit))
    print_table(title, figures)
    sys.stdout.flush()


def fmt(v):
    if isinstance(v, float):
        if v >= 100:
            return "%.0f" % v
        if v >= 10:
            return "%.1f" % v
        return "%.3g" % v
    return str(v)


def print_table(title, figures):
    rows = [(what, fmt(v) + " " + unit, name) for name, v, unit, what in figures]
    w0 = max([len(r[0]) for r in rows] + [len(title)])
    w1 = max(len(r[1]) for r in rows)
    print()
    print("| %-*s | %*s |" % (w0, title, w1, ""))
    print("|%s|%s|" % ("-" * (w0 + 2), "-" * (w1 + 1) + ":"))
    for what, val, _ in rows:
        print("| %-*s | %*s |" % (w0, what, w1, val))


def percentile(sorted_values, p):
    if not sorted_values:
        return 0
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * (len(sorted_values) - 1)))))
    return sorted_values[k]
