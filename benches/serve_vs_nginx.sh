#!/usr/bin/env bash
# Server benchmark, side by side in one run on a generated 16384² float32 image:
#  1. time to first tile of a never-seen image (open + level 0 tile, levels built on demand);
#  2. warm tiles: random deepest-level tiles already cached, toyz vs nginx serving the same PNG files;
#  3. cold tiles: random deepest-level tiles under many render specs, so nothing is cached.
# Needs wrk and nginx (Debian: apt-get install wrk nginx-light). Targets on the 2-core dev machine:
# first tile < 2 s, p99 of later tiles < 20 ms, warm >= 1.0x nginx, cold >= 4000 tiles/s, 0 errors.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-16384}
DUR=${DUR:-10s}
CONN=${CONN:-32}
WORK=${BENCH_DIR:-benches/out}
PORT=${PORT:-18080}
NPORT=$((PORT + 1))
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cargo build --release -q -p toyz-cli -p toyz-skygen
IMG="$WORK/sky-$SIZE.fits"
[ -f "$IMG" ] || target/release/toyz-skygen "$IMG" --size "${SIZE}x${SIZE}" --nan-patches
cat "$IMG" > /dev/null
for t in wrk nginx; do command -v $t > /dev/null || { echo "$t is not installed"; exit 1; }; done

CACHE="$WORK/serve-cache"
rm -rf "$CACHE"
TOYZ_LOG=warn target/release/toyz serve --root bench="$WORK" --bind 127.0.0.1:$PORT --cache "$CACHE" \
  --memory-cache 1GiB > "$WORK/serve.log" 2>&1 &
TOYZ=$!
NGINX_DIR=$(mktemp -d)
trap 'kill $TOYZ 2>/dev/null; [ -f "$NGINX_DIR/nginx.pid" ] && kill $(cat "$NGINX_DIR/nginx.pid") 2>/dev/null; rm -rf "$NGINX_DIR"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:$PORT/healthz > /dev/null && break; sleep 0.05; done
BASE=http://127.0.0.1:$PORT
NAME=$(basename "$IMG")

echo "== 1. time to first tile of a fresh ${SIZE}x${SIZE} image"
python3 - "$BASE" "$NAME" > "$WORK/first.json" <<'PY'
import json, random, sys, time, urllib.request
base, name = sys.argv[1], sys.argv[2]
t0 = time.monotonic()
src = json.load(urllib.request.urlopen(f"{base}/api/sources?path=bench/{name}"))
t1 = time.monotonic()
urllib.request.urlopen(base + src["tiles"].replace("{z}/{x}/{y}", "0/0/0")).read()
t2 = time.monotonic()
lat = []
random.seed(1)
for _ in range(2000):
    z = random.randint(0, src["zmax"]); n = 2 ** z
    u = base + src["tiles"].replace("{z}/{x}/{y}", f"{z}/{random.randrange(n)}/{random.randrange(n)}")
    a = time.monotonic(); urllib.request.urlopen(u).read(); lat.append(time.monotonic() - a)
lat.sort()
print(json.dumps({"open_s": t1 - t0, "first_tile_s": t2 - t0, "p50_ms": lat[1000] * 1e3, "p99_ms": lat[1980] * 1e3,
                  "tiles": src["tiles"], "zmax": src["zmax"]}))
PY
python3 -c "
import json; d = json.load(open('$WORK/first.json'))
print(f\"open {d['open_s']:.3f} s, first tile {d['first_tile_s']:.3f} s; then 2000 random tiles one by one: p50 {d['p50_ms']:.2f} ms, p99 {d['p99_ms']:.2f} ms\")"
TILES=$(python3 -c "import json; print(json.load(open('$WORK/first.json'))['tiles'])")
ZMAX=$(python3 -c "import json; print(json.load(open('$WORK/first.json'))['zmax'])")
N=$((1 << ZMAX))
PREFIX=${TILES%/\{z\}/\{x\}/\{y\}.png}

run_wrk() { # label url prefixes-file
  TILE_PREFIXES=$3 TILE_Z=$ZMAX TILE_N=$N wrk -t2 -c"$CONN" -d"$DUR" --latency -s benches/random_tiles.lua "$2" > "$WORK/wrk-$1.txt"
  python3 benches/wrk_summary.py "$WORK/wrk-$1.txt" "$1"
}

echo "== 2. warm: random level-$ZMAX tiles, all already cached"
echo "$PREFIX" > "$WORK/prefix-toyz.txt"
# The deepest level pre-built by the CLI into the cache the server reads (the same default render spec
# as the source URL), then every tile fetched once so the server also holds them in memory.
target/release/toyz tiles build "$IMG" --cache "$CACHE" --zoom "$ZMAX" > /dev/null
python3 - "$BASE" "$PREFIX" "$ZMAX" <<'PY'
import sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
base, prefix, z = sys.argv[1], sys.argv[2], int(sys.argv[3])
n = 1 << z
urls = [f"{base}{prefix}/{z}/{x}/{y}.png" for x in range(n) for y in range(n)]
with ThreadPoolExecutor(8) as ex:
    list(ex.map(lambda u: urllib.request.urlopen(u).read(), urls))
PY
SID=$(echo "$PREFIX" | cut -d/ -f3); RID=$(echo "$PREFIX" | cut -d/ -f4)
cat > "$NGINX_DIR/nginx.conf" <<NGX
worker_processes 2;
daemon on;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  types { image/png png; }
  server { listen 127.0.0.1:$NPORT; root $CACHE/$SID/$RID; }
}
NGX
nginx -c "$NGINX_DIR/nginx.conf" -p "$NGINX_DIR"
echo "" > "$WORK/prefix-nginx.txt"
# Alternate the two (the machine is shared and noisy): the median of the per-round ratios is reported.
RATIOS=()
for round in $(seq "${ROUNDS:-3}"); do
  run_wrk "toyz-warm" "$BASE" "$WORK/prefix-toyz.txt"
  run_wrk "nginx-warm" "http://127.0.0.1:$NPORT" "$WORK/prefix-nginx.txt"
  RATIOS+=("$(python3 -c "print(float(open('$WORK/wrk-toyz-warm.txt.rps').read()) / float(open('$WORK/wrk-nginx-warm.txt.rps').read()))")")
done
python3 -c "
import statistics; r = [float(x) for x in '${RATIOS[*]}'.split()]
print('warm: toyz / nginx per round ' + ' '.join(f'{x:.2f}' for x in r) + f'; median {statistics.median(r):.2f}')"

echo "== 3. cold: random level-$ZMAX tiles under 400 render specs (nothing cached)"
python3 - "$BASE" "$NAME" > "$WORK/prefix-cold.txt" <<'PY'
import json, sys, urllib.request
base, name = sys.argv[1], sys.argv[2]
for i in range(400):
    lo, hi = 900 + i * 0.25, 1200 + i
    cmap = ["grey", "viridis", "inferno", "heat"][i % 4]
    src = json.load(urllib.request.urlopen(f"{base}/api/sources?path=bench/{name}&cut=range%3D{lo},{hi}&cmap={cmap}"))
    print(src["tiles"].rsplit("/{z}", 1)[0])
PY
for round in $(seq "${ROUNDS:-3}"); do
  run_wrk "toyz-cold" "$BASE" "$WORK/prefix-cold.txt"
done
