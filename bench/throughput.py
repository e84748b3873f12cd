#!/usr/bin/python3
"""Throughput: N unpaid orders of distinct buyers, all due now, imported into the
inbox of a fresh store; nudged runs them from its start to the last `sent` (outbox
channel). Then the `sqlite3` shell stores the same facts per reminder — an order, its
step, a send, a ledger row, three audit lines (scheduled, sending, sent), two updates
(the step to sending, the send to sent), and the day's audit counts once per event
at each commit — on the same schema with the same durability (WAL, synchronous=FULL),
committing every 200.

Then the outbox's own file work for N messages alone (bench/outbox: no store, no
engine), the file system's floor under the outbox rate on this machine, which moves
with the file system's state (ext4 skips freshly freed inodes when it allocates).

Also, unless THROUGHPUT_DISCARD=0: the same N through a `discard` channel (decided,
stored and audited alike, no outbox files), to tell the engine from the file system.

usage: bench/throughput.py [N]     (default 50,000)
"""
import hashlib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def run_nudged(n, channel="outbox"):
    w = B.Workdir("throughput", channel)
    try:
        placed = B.now_ms() - 2 * B.HOUR  # due an hour ago: inside misfire grace, all due now
        w.import_lines([B.order_line("o%d" % i, "b%d" % i, placed) for i in range(n)])
        t0 = time.time()
        w.start()
        w.wait_for(lambda: w.count("SELECT COUNT(*) FROM sends WHERE state='sent'") >= n, 3600,
                   "%d sends" % n, every=0.5)
        wall = time.time() - t0
        started = B.audit_ts(w, "started")
        last_sent = B.audit_ts(w, "sent")
        rss = w.peak_rss_kib()
        cpu = w.cpu_seconds()
        w.stop()
        schema = subprocess.run(["sqlite3", w.db, ".schema"], capture_output=True, text=True, check=True).stdout
        secs = (last_sent - started) / 1000.0
        return n / secs, wall, rss, schema, cpu * 1e6 / n
    finally:
        w.cleanup()


def run_outbox_alone(n):
    """The outbox's own file work for n messages, without nudged (bench/outbox.cpp):
    the file system's floor under the outbox rate, measured in the same run."""
    w = B.Workdir("throughput-outbox")
    try:
        out = subprocess.run([os.path.join(B.BUILD, "bench", "outbox"), os.path.join(w.dir, "outbox"), str(n)],
                             capture_output=True, text=True, check=True).stdout
        vals = {l.split()[0]: float(l.split()[1]) for l in out.splitlines()}
        return vals["outbox_alone"], vals["outbox_alone_cpu"]
    finally:
        w.cleanup()


def run_shell(n, schema):
    """The same facts through the sqlite3 shell, a commit per 200 reminders."""
    tmp = B.Workdir("throughput-sqlite")
    try:
        db = os.path.join(tmp.dir, "shell.db")
        script = os.path.join(tmp.dir, "load.sql")
        schema = "\n".join(l for l in schema.splitlines() if "sqlite_" not in l)
        now = B.now_ms()
        placed = now - 2 * B.HOUR
        prev = "0" * 64
        with open(script, "w") as f:
            f.write("PRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\n")
            f.write(schema + "\n")
            seq = 0
            for i in range(n):
                if i % 200 == 0:
                    f.write("BEGIN IMMEDIATE;\n")
                sid = i + 1
                f.write("INSERT INTO orders(shop,order_id,buyer_id,buyer_name,buyer_country,amount,currency,placed_at,"
                        "closes_at,status,status_at,campaign,updated_at) VALUES('s1','o%d','b%d','Buyer b%d','ES','25.00',"
                        "'USD',%d,%d,'awaiting_payment',%d,'default',%d);\n"
                        % (i, i, i, placed, placed + 20 * 24 * B.HOUR, placed, now))
                f.write("INSERT INTO schedule(shop,order_id,buyer_id,campaign,step,step_index,due_at,state,updated_at) "
                        "VALUES('s1','o%d','b%d','default','first',0,%d,'scheduled',%d);\n" % (i, i, placed + B.HOUR, now))
                key = hashlib.sha256(b"k%d" % i).hexdigest()[:32]
                f.write("INSERT INTO sends(id,shop,buyer_id,step,channel,template,lang,idempotency_key,state,attempt,"
                        "subject,body,created_at,updated_at) VALUES(%d,'s1','b%d','first','outbox','gentle','en','%s',"
                        "'sending',1,'Your order o%d is waiting','Hi Buyer b%d, 1 order(s), 25.00 USD, closes in 19 days.',"
                        "%d,%d);\n" % (sid, i, key, i, i, now, now))
                f.write("INSERT INTO ledger(shop,buyer_id,send_id,at) VALUES('s1','b%d',%d,%d);\n" % (i, sid, now))
                f.write("UPDATE schedule SET state='sending', send_id=%d, updated_at=%d WHERE shop='s1' AND "
                        "order_id='o%d' AND step='first';\n" % (sid, now, i))
                for ev in ("scheduled", "sending", "sent"):
                    seq += 1
                    line = ('{"seq":%d,"ts":"%s","event":"%s","shop":"s1","buyer":"b%d","orders":["o%d"],"step":"first",'
                            '"channel":"outbox","template":"gentle","lang":"en","attempt":1,"send_id":%d,"reason":null,'
                            '"due":null,"detail":null,"prev":"%s"' % (seq, B.iso(now), ev, i, i, sid, prev))
                    h = hashlib.sha256(line.encode()).hexdigest()
                    f.write("INSERT INTO audit(seq,ts,event,shop,buyer,line,hash) VALUES(%d,%d,'%s','s1','b%d','%s',"
                            "'%s');\n" % (seq, now, ev, i, line + ',"hash":"' + h + '"}', h))
                    prev = h
                    if ev == "sending":
                        f.write("UPDATE sends SET state='sent', updated_at=%d WHERE id=%d;\n" % (now, sid))
                if i % 200 == 199 or i == n - 1:
                    # The day's audit counts, once per event at the commit, as nudged keeps them.
                    for ev in ("scheduled", "sending", "sent"):
                        f.write("INSERT INTO audit_daily(day,event,n) VALUES(%d,'%s',%d) ON CONFLICT(day,event) "
                                "DO UPDATE SET n = n + excluded.n;\n" % (now // 86400000, ev, i % 200 + 1))
                    f.write("COMMIT;\n")
        t0 = time.time()
        with open(script) as f:
            subprocess.run(["sqlite3", db], stdin=f, stdout=subprocess.DEVNULL, check=True)
        return n / (time.time() - t0)
    finally:
        tmp.cleanup()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
    rate, wall, rss, schema, cpu = run_nudged(n)
    shell = run_shell(n, schema)
    alone, alone_cpu = run_outbox_alone(n)
    # The same through a discard channel: the engine and the store without the outbox's files.
    discard, discard_cpu = (run_nudged(n, "discard")[0::4] if os.environ.get("THROUGHPUT_DISCARD", "1") != "0"
                            else (0.0, 0.0))
    B.report("throughput, %d due reminders" % n, [
        ("throughput_nudged", rate, "reminders/s", "nudged, start to last sent (outbox)"),
        ("throughput_nudged_wall", wall, "s", "nudged, wall time incl. process start"),
        ("throughput_peak_rss", rss / 1024.0, "MiB", "nudged peak RSS"),
        ("throughput_sqlite3_shell", shell, "reminders/s", "sqlite3 shell, same facts, commit per 200"),
        ("throughput_ratio", rate / shell, "x", "nudged / sqlite3 shell"),
        ("throughput_nudged_cpu", cpu, "us/reminder", "nudged CPU time (user+sys) per reminder"),
        ("throughput_outbox_alone", alone, "messages/s", "the outbox's file work alone, no nudged (bench/outbox)"),
        ("throughput_outbox_alone_cpu", alone_cpu, "us/message", "CPU per message of that file work"),
        ("throughput_nudged_discard", discard, "reminders/s", "nudged, discard channel (no files)"),
        ("throughput_discard_cpu", discard_cpu, "us/reminder", "nudged CPU per reminder, discard channel"),
    ])


if __name__ == "__main__":
    main()
