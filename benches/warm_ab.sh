#!/usr/bin/env bash
# Two toyz binaries serving the same warm tiles, then cold ones (each its own half of the 400 render
# specs, so neither is served what the other rendered), alternated round by round in one invocation:
# the A/B check of a change on the hot path (the machine is shared and noisy, so compare the per-round
# ratios, not absolute rates). Run benches/serve_vs_nginx.sh first (it makes the image and the cache).
#   benches/warm_ab.sh /path/to/other/target/release/toyz [this tree's toyz]
set -euo pipefail
cd "$(dirname "$0")/.."
A=${1:?usage: benches/warm_ab.sh OTHER_TOYZ [TOYZ]}
B=${2:-target/release/toyz}
DUR=${DUR:-10s}
CONN=${CONN:-32}
WORK=$(cd "${BENCH_DIR:-benches/out}" && pwd)
PORT=${PORT:-18090}
CACHE="$WORK/serve-cache"
[ -f "$WORK/prefix-toyz.txt" ] || { echo "run benches/serve_vs_nginx.sh first"; exit 1; }
ZMAX=$(python3 -c "import json; print(json.load(open('$WORK/first.json'))['zmax'])")
N=$((1 << ZMAX))
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null' EXIT
start() { # binary port
  TOYZ_LOG=warn "$1" serve --root bench="$WORK" --bind 127.0.0.1:"$2" --cache "$CACHE" --memory-cache 1GiB \
    > "$WORK/ab-$2.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$2/healthz" > /dev/null && break; sleep 0.05; done
  # Every tile once, so that both serve from memory.
  python3 - "http://127.0.0.1:$2" "$(cat "$WORK/prefix-toyz.txt")" "$ZMAX" <<'PY'
import sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
base, prefix, z = sys.argv[1], sys.argv[2], int(sys.argv[3])
n = 1 << z
urls = [f"{base}{prefix}/{z}/{x}/{y}.png" for x in range(n) for y in range(n)]
with ThreadPoolExecutor(8) as ex:
    list(ex.map(lambda u: urllib.request.urlopen(u).read(), urls))
PY
}
start "$A" "$PORT"
start "$B" $((PORT + 1))
run_wrk() { # label port [prefixes]
  TILE_PREFIXES=${3:-$WORK/prefix-toyz.txt} TILE_Z=$ZMAX TILE_N=$N wrk -t2 -c"$CONN" -d"$DUR" --latency \
    -s benches/random_tiles.lua "http://127.0.0.1:$2" > "$WORK/wrk-$1.txt"
  python3 benches/wrk_summary.py "$WORK/wrk-$1.txt" "$1"
}
RATIOS=()
for round in $(seq "${ROUNDS:-4}"); do
  run_wrk "A-warm" "$PORT"
  run_wrk "B-warm" $((PORT + 1))
  RATIOS+=("$(python3 -c "print(float(open('$WORK/wrk-B-warm.txt.rps').read()) / float(open('$WORK/wrk-A-warm.txt.rps').read()))")")
done
python3 -c "
import statistics; r = [float(x) for x in '${RATIOS[*]}'.split()]
print('warm: B / A per round ' + ' '.join(f'{x:.2f}' for x in r) + f'; median {statistics.median(r):.2f}')"
awk 'NR % 2 == 1' "$WORK/prefix-cold.txt" > "$WORK/prefix-cold-A.txt"
awk 'NR % 2 == 0' "$WORK/prefix-cold.txt" > "$WORK/prefix-cold-B.txt"
RATIOS=()
for round in $(seq "${ROUNDS:-4}"); do
  run_wrk "A-cold" "$PORT" "$WORK/prefix-cold-A.txt"
  run_wrk "B-cold" $((PORT + 1)) "$WORK/prefix-cold-B.txt"
  RATIOS+=("$(python3 -c "print(float(open('$WORK/wrk-B-cold.txt.rps').read()) / float(open('$WORK/wrk-A-cold.txt.rps').read()))")")
done
python3 -c "
import statistics; r = [float(x) for x in '${RATIOS[*]}'.split()]
print('cold: B / A per round ' + ' '.join(f'{x:.2f}' for x in r) + f'; median {statistics.median(r):.2f}')"
