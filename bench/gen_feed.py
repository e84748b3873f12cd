#!/usr/bin/python3
"""Writes a deterministic order feed (DESIGN.md's JSON Lines) for benchmarks and
simulations: N orders over D days from buyers in many countries, some paying
after a while, some cancelled, a few malformed records.

usage: gen_feed.py ORDERS DAYS [SEED] > feed.jsonl
"""
import datetime
import json
import random
import sys

COUNTRIES = [("ES", "es"), ("MX", "es"), ("BR", "pt"), ("PT", "pt"), ("RU", "ru"), ("FR", "fr"),
             ("US", None), ("CN", "zh"), ("DE", None), ("PL", None), ("AU", None), ("JP", None),
             ("IN", None), ("CA", "fr"), ("CL", "es"), ("KR", None), ("IT", None), ("UA", None)]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)
    start = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
    span = days * 86400
    buyers = max(1, n // 3)
    out = []
    for i in range(n):
        t = start + datetime.timedelta(seconds=rnd.uniform(0, span * 0.9))
        b = rnd.randrange(buyers)
        country, lang = COUNTRIES[b % len(COUNTRIES)]
        rec = {"type": "order", "shop": "shop%d" % (b % 3), "order_id": str(100000 + i),
               "buyer_id": "b%d" % b, "buyer_name": "Buyer %d" % b, "buyer_country": country,
               "amount": "%.2f" % rnd.uniform(2, 400), "currency": "USD",
               "placed_at": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "status": "awaiting_payment"}
        if lang:
            rec["buyer_lang"] = lang
        out.append((t, rec))
        fate = rnd.random()
        if fate < 0.45:  # pays, sometimes only after a reminder
            paid = t + datetime.timedelta(hours=rnd.expovariate(1 / 20.0))
            out.append((paid, {"type": "status", "shop": rec["shop"], "order_id": rec["order_id"],
                               "status": "paid", "at": paid.strftime("%Y-%m-%dT%H:%M:%SZ")}))
        elif fate < 0.55:
            gone = t + datetime.timedelta(hours=rnd.uniform(0.5, 72))
            out.append((gone, {"type": "status", "shop": rec["shop"], "order_id": rec["order_id"],
                               "status": "cancelled", "at": gone.strftime("%Y-%m-%dT%H:%M:%SZ")}))
    out.sort(key=lambda x: x[0])
    w = sys.stdout.write
    for i, (_, rec) in enumerate(out):
        w(json.dumps(rec, ensure_ascii=False) + "\n")
        if i % 5000 == 4999:
            w('{"type":"order","shop":"shop0","order_id":"bad%d"}\n' % i)  # malformed on purpose


if __name__ == "__main__":
    main()
