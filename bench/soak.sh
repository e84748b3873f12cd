#!/bin/bash
# Soak: the kill test's SIGKILL/restart loop, for longer. Each round runs the kill test
# (tests/integration/kill_test.cpp) with CYCLES kills and a fresh seed, then checks
# everything it checks (caps, at-most-once, final states, audit file = table, chain).
# Not run by ctest.
#
#   bench/soak.sh [-c CYCLES_PER_ROUND] [-m MINUTES | -r ROUNDS] [-b BUILD_DIR]
#
# Defaults: 1000 cycles, one round. Prints per round: cycles, sent, in_doubt,
# violations, the seed (to replay: NUDGE_KILL_SEED=S NUDGE_KILL_CYCLES=C). Exits 1 if
# any round found a violation.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
cycles=1000 minutes=0 rounds=1 build="$here/build"
while getopts "c:m:r:b:" opt; do
  case $opt in
    c) cycles=$OPTARG ;;
    m) minutes=$OPTARG ;;
    r) rounds=$OPTARG ;;
    b) build=$OPTARG ;;
    *) sed -n 2,12p "$0"; exit 64 ;;
  esac
done
bin="$build/tests/nudge_integration_tests"
[ -x "$bin" ] || { echo "soak: $bin not built (make -C $build nudge_integration_tests)" >&2; exit 1; }

deadline=$(( $(date +%s) + minutes * 60 ))
round=0 total_cycles=0 total_sent=0 total_doubt=0 total_viol=0 failed_rounds=0
while :; do
  round=$((round + 1))
  seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
  out=$(NUDGE_KILL_CYCLES=$cycles NUDGE_KILL_SEED=$seed "$bin" \
        --test-case='nudged killed at random moments*' --no-colors 2>&1)
  rc=$?
  line=$(grep -o '[0-9]* SIGKILLs.*violations' <<<"$out" | tail -1)
  kills=$(grep -o '^[0-9]*' <<<"$line"); kills=${kills:-0}
  sent=$(grep -o '[0-9]* sent' <<<"$line" | grep -o '[0-9]*'); sent=${sent:-0}
  doubt=$(grep -o '[0-9]* in_doubt' <<<"$line" | grep -o '[0-9]*'); doubt=${doubt:-0}
  viol=$(grep -o '[0-9]* violations' <<<"$line" | grep -o '[0-9]*'); viol=${viol:-0}
  if [ "$rc" -ne 0 ] && [ "$viol" -eq 0 ]; then viol=1; fi  # a failed REQUIRE counts too
  printf 'round %d: seed %s, %d cycles, %d sent, %d in_doubt, %d violations%s\n' \
    "$round" "$seed" "$kills" "$sent" "$doubt" "$viol" "$([ "$rc" -ne 0 ] && echo ' (FAILED)')"
  if [ "$rc" -ne 0 ]; then
    failed_rounds=$((failed_rounds + 1))
    grep -E 'ERROR|CHECK|REQUIRE|with expansion|logged:' <<<"$out" | head -40
  fi
  total_cycles=$((total_cycles + kills)) total_sent=$((total_sent + sent))
  total_doubt=$((total_doubt + doubt)) total_viol=$((total_viol + viol))
  if [ "$minutes" -gt 0 ]; then
    [ "$(date +%s)" -ge "$deadline" ] && break
  else
    [ "$round" -ge "$rounds" ] && break
  fi
done
echo "soak: $round rounds, $total_cycles cycles, $total_sent sent, $total_doubt in_doubt, $total_viol violations"
[ "$failed_rounds" -eq 0 ]
