#!/bin/sh
# Benchmark: `nudgectl simulate` over N orders and D days (default 10,000 over 30),
# plain and with --store (keeping the simulated store), and `nudgectl report` over it.
# Prints the counts, then the figures (wall time, peak memory) as `name value unit`
# lines and a table. Uses $NUDGE_BENCH_BUILD (default build-release/ if built by
# bench/run, else build/).
set -eu
cd "$(dirname "$0")/.."
n=${1:-10000}
days=${2:-30}
build=${NUDGE_BENCH_BUILD:-build-release}
[ -x "$build/nudgectl" ] || build=build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 bench/gen_feed.py "$n" "$days" > "$tmp/feed.jsonl"
echo "feed: $(wc -l < "$tmp/feed.jsonl") records ($n orders over $days days)"
# nudgectl simulate as issue 9 timed it (the events on stdout, the summary on stderr),
# then again keeping the simulated store (--store) for nudgectl report; both print
# the same events.
/usr/bin/time -f "%e %M" -o "$tmp/time.txt" "$build/nudgectl" --config bench/policy.yaml simulate \
  --orders "$tmp/feed.jsonl" > "$tmp/events.jsonl" 2> "$tmp/summary.txt" || { cat "$tmp/summary.txt"; exit 1; }
/usr/bin/time -f "%e %M" -o "$tmp/store_time.txt" "$build/nudgectl" --config bench/policy.yaml simulate \
  --orders "$tmp/feed.jsonl" --store "$tmp/trial.db" > "$tmp/events_kept.jsonl" 2> "$tmp/summary_kept.txt" ||
  { cat "$tmp/summary_kept.txt"; exit 1; }
cmp -s "$tmp/events.jsonl" "$tmp/events_kept.jsonl" || { echo "simulate --store printed other events" >&2; exit 1; }
# nudgectl report over every order of the simulation (one index range scan).
/usr/bin/time -f "%e %M" -o "$tmp/report_time.txt" "$build/nudgectl" --config bench/policy.yaml report \
  --store "$tmp/trial.db" --since 2000-01-01 --until 2100-01-01 --json > "$tmp/report.json"
grep -v '^/' "$tmp/summary.txt" | grep -v 'rejected on purpose' | sed -n '/^simulated/,$p'
echo "events: $(wc -l < "$tmp/events.jsonl") audit lines"
read -r wall rss < "$tmp/time.txt"
mib=$(awk "BEGIN{printf \"%.1f\", $rss/1024}")
echo "simulate_wall $wall s"
echo "simulate_peak_rss $mib MiB"
read -r swall srss < "$tmp/store_time.txt"
smib=$(awk "BEGIN{printf \"%.1f\", $srss/1024}")
echo "simulate_store_wall $swall s"
echo "simulate_store_peak_rss $smib MiB"
read -r rwall rrss < "$tmp/report_time.txt"
echo "report_wall $rwall s"
echo "report_orders $(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["orders"])' "$tmp/report.json") orders"
echo
printf '| %-36s | %9s |\n' "simulate, $n orders over $days days" ""
printf '|%s|%s:|\n' "--------------------------------------" "----------"
printf '| %-36s | %9s |\n' "nudgectl simulate, wall" "$wall s" "nudgectl simulate, peak RSS" "$mib MiB" \
  "nudgectl simulate --store, wall" "$swall s" "nudgectl simulate --store, peak RSS" "$smib MiB" \
  "nudgectl report, wall" "$rwall s"
