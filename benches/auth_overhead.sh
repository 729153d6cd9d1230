#!/usr/bin/env bash
# What accounts cost on warm tiles: the same cached tiles of a generated 8192² image served by two
# `toyz serve` processes sharing one cache, one without accounts and one with `--auth` (a logged-in user
# whose group may read the root, so every tile passes the session lookup and the grant check), run
# side by side in alternating rounds with wrk. Prints req/s of each and the ratio (goal: auth >= 0.95).
#   benches/auth_overhead.sh          (ROUNDS=3 DUR=10s CONN=32; needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-8192}
DUR=${DUR:-10s}
CONN=${CONN:-32}
ROUNDS=${ROUNDS:-3}
WORK=${BENCH_DIR:-benches/out}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
command -v wrk > /dev/null || { echo "wrk is not installed"; exit 1; }
cargo build --release -q -p toyz-cli -p toyz-skygen
IMG_DIR="$WORK/auth-data"
mkdir -p "$IMG_DIR"
IMG="$IMG_DIR/sky-$SIZE.fits"
[ -f "$IMG" ] || target/release/toyz-skygen "$IMG" --size "${SIZE}x${SIZE}"
CACHE="$WORK/auth-cache"
DB="$WORK/auth.sqlite"
rm -rf "$CACHE" "$DB" "$DB-wal" "$DB-shm"
echo 'a bench password' | target/release/toyz user add reader --db "$DB" > /dev/null
target/release/toyz group add readers reader --db "$DB" > /dev/null
target/release/toyz grant group:readers bench read --db "$DB" > /dev/null
PORT_A=${PORT:-18180}
PORT_B=$((PORT_A + 1))
TOYZ_LOG=warn target/release/toyz serve --root bench="$IMG_DIR" --bind 127.0.0.1:$PORT_A --cache "$CACHE" \
  > "$WORK/auth-open.log" 2>&1 &
OPEN=$!
TOYZ_LOG=warn target/release/toyz serve --root bench="$IMG_DIR" --bind 127.0.0.1:$PORT_B --cache "$CACHE" \
  --auth --db "$DB" > "$WORK/auth-auth.log" 2>&1 &
AUTH=$!
trap 'kill $OPEN $AUTH 2>/dev/null' EXIT
for p in $PORT_A $PORT_B; do
  for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:$p/healthz && break; sleep 0.05; done
done
COOKIE=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
  -d '{"user":"reader","password":"a bench password"}' http://127.0.0.1:$PORT_B/api/login \
  | sed -n 's/^[Ss]et-[Cc]ookie: \(toyz_session=[0-9a-f]*\).*/\1/p')
[ -n "$COOKIE" ] || { echo "login failed"; exit 1; }
NAME=$(basename "$IMG")
SRC=$(curl -s -H "Cookie: $COOKIE" "http://127.0.0.1:$PORT_B/api/sources?path=bench/$NAME")
PREFIX=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['tiles'].rsplit('/{z}', 1)[0])" "$SRC")
ZMAX=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['zmax'])" "$SRC")
curl -s -o /dev/null "http://127.0.0.1:$PORT_A/api/sources?path=bench/$NAME"
target/release/toyz tiles build "$IMG" --cache "$CACHE" --zoom "$ZMAX" > /dev/null
echo "$PREFIX" > "$WORK/prefix-auth.txt"
# Every tile once through each server, so both hold them in memory.
python3 - "$PREFIX" "$ZMAX" "$PORT_A" "$PORT_B" "$COOKIE" <<'PY'
import sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
prefix, z, a, b, cookie = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
n = 1 << z
def get(u, c=None):
    r = urllib.request.Request(u, headers={"Cookie": c} if c else {})
    urllib.request.urlopen(r).read()
with ThreadPoolExecutor(8) as ex:
    tiles = [(x, y) for x in range(n) for y in range(n)]
    list(ex.map(lambda t: get(f"http://127.0.0.1:{a}{prefix}/{z}/{t[0]}/{t[1]}.png"), tiles))
    list(ex.map(lambda t: get(f"http://127.0.0.1:{b}{prefix}/{z}/{t[0]}/{t[1]}.png", cookie), tiles))
PY
N=$((1 << ZMAX))
run() { # label port [header]
  local extra=()
  [ $# -ge 3 ] && extra=(-H "$3")
  TILE_PREFIXES="$WORK/prefix-auth.txt" TILE_Z=$ZMAX TILE_N=$N wrk -t2 -c"$CONN" -d"$DUR" --latency \
    -s benches/random_tiles.lua "${extra[@]}" "http://127.0.0.1:$2" > "$WORK/wrk-$1.txt"
  python3 benches/wrk_summary.py "$WORK/wrk-$1.txt" "$1" 10 --strict
}
echo "== warm level-$ZMAX tiles of a ${SIZE}x${SIZE} image: without accounts, and logged in with --auth"
RATIOS=()
for _ in $(seq "$ROUNDS"); do
  run open $PORT_A
  run auth $PORT_B "Cookie: $COOKIE"
  RATIOS+=("$(python3 -c "print(float(open('$WORK/wrk-auth.txt.rps').read()) / float(open('$WORK/wrk-open.txt.rps').read()))")")
done
python3 -c "
import statistics; r = [float(x) for x in '${RATIOS[*]}'.split()]
print('auth / open per round ' + ' '.join(f'{x:.3f}' for x in r) + f'; median {statistics.median(r):.3f} (goal >= 0.95)')"
