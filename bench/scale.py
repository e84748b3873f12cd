#!/usr/bin/python3
"""Scale: the cost of due reminders on an empty store vs. on a store holding many
pending steps, the ingest rate of the first and last fifth of a big first sync, the
daemon's peak RSS, how long `nudgectl status`, `buyer` and `order` take at that size, how
long a reload that changes no campaign holds the daemon, and how soon a restart sends.

  1. Empty store: nudged runs; D due orders (distinct buyers) are imported into its
     inbox; time from their ingest (first audit line about them) to the last `sent`.
     Once through the discard channel (scale_discard_*: the engine and the store),
     then D more through the outbox (scale_due_*, scale_cost_ratio: files too).
  2. Big store: P/2 future orders (2 steps each, due in 1 h and 25 h) are imported and
     ingested by nudged (the ingest rates come from the `scheduled` audit times); then
     the same D due orders, timed the same way; then a reload of the same policy
     (SIGHUP), from the signal to its `policy_loaded` line; then a restart with one
     more order due, from nudged's exec to that reminder's `sent`. The orders were placed over
     the last hour in the order they arrive, as a marketplace's order list delivers a
     first sync (each buyer has three, far apart in the feed).
  3. The same ingest with the placing times shuffled (each second of the hour taken by
     every 3,600th order): a worst case in which the indexes by time are written at
     random places, as the indexes by buyer always are. Its rate and slowdown are
     printed apart (scale_ingest_shuffled*).

usage: bench/scale.py [PENDING_STEPS] [DUE]   (default 1,000,000 and 10,000)
"""
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


# The due runs are timed twice: through the outbox (files, as a seller might), and
# through the discard channel (the engine and the store alone: a file system that
# creates files slowly after a mass deletion, as ext4 without a journal does, moves
# the outbox figures by a factor of five between runs).
DISCARD_SHOP = "sd"


def due_run(w, d, tag, shop="s1"):
    """Imports d due orders into the running daemon's inbox; seconds from the first
    audit line about them (their ingest; the poll interval is not counted) to the
    last `sent`. Orders of shop DISCARD_SHOP go through the discard channel."""
    placed = B.now_ms() - 2 * B.HOUR
    before = w.count("SELECT COUNT(*) FROM sends WHERE state='sent'")
    seq0 = w.count("SELECT MAX(seq) FROM audit")
    lines = [B.order_line("due%s-%d" % (tag, i), "due%s-b%d" % (tag, i), placed, shop) for i in range(d)]
    feed = os.path.join(w.dir, "due.jsonl")
    with open(feed, "w") as f:
        f.write("\n".join(lines) + "\n")
    w.ctl("orders", "import", feed)
    w.wait_for(lambda: w.count("SELECT COUNT(*) FROM sends WHERE state='sent'") >= before + d, 3600,
               "%d sends" % d, every=0.25)
    t0 = w.count("SELECT MIN(ts) FROM audit WHERE seq > ? AND buyer LIKE 'due%'", seq0)
    last = B.audit_ts(w, "sent")
    return (last - t0) / 1000.0


def ingest(w, orders, shuffled):
    """Imports `orders` future orders (2 steps each, due in 1 h and 25 h; buyers of three
    orders each) into a new store, starts nudged and waits until it has ingested them
    all. Returns (steps, seconds of the first fifth, of the last fifth, in all), from
    the `scheduled` audit times. In order, the orders were placed over the hour after
    now in the order of the feed; shuffled, order i was placed at second i % 3600."""
    placed = B.now_ms()
    feed = os.path.join(w.dir, "big.jsonl")
    with open(feed, "w") as f:
        for i in range(orders):
            at = placed + ((i % 3600) * 1000 if shuffled else i * 3600000 // orders)
            f.write(B.order_line("p%d" % i, "pb%d" % (i % (orders // 3 + 1)), at) + "\n")
    w.ctl("orders", "import", feed)
    os.unlink(feed)
    last_inbox = w.count("SELECT MAX(id) FROM inbox")
    w.start()
    w.wait_for(lambda: w.count("SELECT CAST(cursor AS INTEGER) FROM source_state WHERE source='inbox'") >= last_inbox,
               7200, "the ingest of %d orders" % orders, every=1.0)
    c = w.connect()
    start = c.execute("SELECT ts FROM audit WHERE event='policy_loaded' ORDER BY seq DESC LIMIT 1").fetchone()[0]
    ts = [r[0] for r in c.execute("SELECT ts FROM audit WHERE event='scheduled' ORDER BY seq")]
    c.close()
    steps = len(ts)
    fifth = steps // 5
    return (steps, (ts[fifth - 1] - start) / 1000.0, (ts[-1] - ts[steps - fifth - 1]) / 1000.0,
            (ts[-1] - start) / 1000.0)


def ctl_ms(w, *args):
    times = []
    for _ in range(3):
        t0 = time.time()
        r = w.ctl(*args, check=False)
        times.append((time.time() - t0) * 1000)
        if r.returncode != 0:
            sys.exit("nudgectl %s failed: %s" % (" ".join(args), r.stderr[-1000:]))
    return statistics.median(times)


def sighup_ms(w):
    """A reload of the same policy (SIGHUP): from the signal to its policy_loaded line,
    which commits with the reload's work."""
    q = "SELECT COUNT(*) FROM audit WHERE event='policy_loaded'"
    before = w.count(q)
    t0 = time.time()
    w.proc.send_signal(signal.SIGHUP)
    w.wait_for(lambda: w.count(q) > before, 600, "the reload", every=0.01)
    return (time.time() - t0) * 1000.0


def restart_ms(w):
    """nudged stopped, one due order imported, and started again on the big store: from
    its exec to that reminder's `sent` line, so that all a start does first counts."""
    w.stop()
    w.import_lines([B.order_line("restart-o1", "restart-b1", B.now_ms() - 2 * B.HOUR)])
    q = "SELECT COUNT(*) FROM audit WHERE event='sent' AND buyer='restart-b1'"
    t0 = time.time()
    w.start()
    w.wait_for(lambda: w.count(q) > 0, 120, "the reminder due at the restart", every=0.005)
    return (time.time() - t0) * 1000.0


def main():
    pending = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    d = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    orders = pending // 2

    w = B.Workdir("scale-empty", discard_shop=DISCARD_SHOP)
    try:
        w.import_lines([])  # creates the store
        w.start()
        empty_discard_s = due_run(w, d, "ed", DISCARD_SHOP)
        empty_s = due_run(w, d, "e")
    finally:
        w.cleanup()

    w = B.Workdir("scale-big", discard_shop=DISCARD_SHOP)
    try:
        steps, first_s, last_s, total_s = ingest(w, orders, shuffled=False)
        per_fifth_orders = steps // 5 / 2
        big_discard_s = due_run(w, d, "bd", DISCARD_SHOP)
        big_s = due_run(w, d, "b")
        reload_ms = sighup_ms(w)
        rss = w.peak_rss_kib()
        print("note: nudged's memory now: %s" % w.rss_parts())
        start_ms = restart_ms(w)
        w.stop()
        status_ms = ctl_ms(w, "status")
        buyer_ms = ctl_ms(w, "buyer", "pb7", "--shop", "s1")
        order_ms = ctl_ms(w, "order", "p12345", "--shop", "s1")
    finally:
        w.cleanup()

    w = B.Workdir("scale-shuffled")
    try:
        _, sh_first_s, sh_last_s, sh_total_s = ingest(w, orders, shuffled=True)
        w.stop()
    finally:
        w.cleanup()

    B.report("scale, %d pending steps, %d due" % (steps, d), [
        ("scale_pending_steps", steps, "steps", "pending steps in the big store"),
        ("scale_due_empty", d / empty_s, "reminders/s", "%d due, empty store" % d),
        ("scale_due_big", d / big_s, "reminders/s", "%d due, big store" % d),
        ("scale_cost_ratio", big_s / empty_s, "x", "per-reminder cost, big / empty"),
        ("scale_discard_due_empty", d / empty_discard_s, "reminders/s", "%d due, empty store, discard" % d),
        ("scale_discard_due_big", d / big_discard_s, "reminders/s", "%d due, big store, discard" % d),
        ("scale_discard_cost_ratio", big_discard_s / empty_discard_s, "x", "the same ratio, discard channel"),
        ("scale_ingest", orders / total_s, "orders/s", "ingest, all %d orders" % orders),
        ("scale_ingest_first_fifth", per_fifth_orders / first_s, "orders/s", "ingest, first fifth"),
        ("scale_ingest_last_fifth", per_fifth_orders / last_s, "orders/s", "ingest, last fifth"),
        ("scale_ingest_slowdown", last_s / first_s, "x", "ingest time, last fifth / first"),
        ("scale_ingest_shuffled", orders / sh_total_s, "orders/s", "ingest, times shuffled"),
        ("scale_ingest_shuffled_slowdown", sh_last_s / sh_first_s, "x", "ingest, times shuffled, last / first"),
        ("scale_peak_rss", rss / 1024.0, "MiB", "nudged peak RSS"),
        ("scale_status_ms", status_ms, "ms", "nudgectl status"),
        ("scale_buyer_ms", buyer_ms, "ms", "nudgectl buyer"),
        ("scale_order_ms", order_ms, "ms", "nudgectl order"),
        ("scale_reload_ms", reload_ms, "ms", "reload (SIGHUP), same campaigns"),
        ("scale_restart_ms", start_ms, "ms", "restart with one reminder due: exec to its sent"),
    ])


if __name__ == "__main__":
    main()
