#!/bin/sh
# Benchmark: `nudgectl simulate` over N orders and D days (default 10,000 over 30).
# Prints the wall time, peak memory and the counts. Build first (scripts/build).
set -eu
cd "$(dirname "$0")/.."
n=${1:-10000}
days=${2:-30}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 bench/gen_feed.py "$n" "$days" > "$tmp/feed.jsonl"
echo "feed: $(wc -l < "$tmp/feed.jsonl") records ($n orders over $days days)"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" build/nudgectl --config bench/policy.yaml simulate \
  --orders "$tmp/feed.jsonl" > "$tmp/events.jsonl" 2> "$tmp/summary.txt" || { cat "$tmp/summary.txt"; exit 1; }
grep -v '^/' "$tmp/summary.txt" | grep -v 'rejected on purpose' | sed -n '/^simulated/,$p'
echo "events: $(wc -l < "$tmp/events.jsonl") audit lines"
