#!/usr/bin/env bash
# Scale-out benchmark, side by side in one run on a generated image (default 8192², 1,024 deepest-level
# tiles):
#  1. warm tiles: random deepest-level tiles, already rendered, through nginx balancing 2 replicas whose
#     tile cache is an S3 object store (toyz-s3-server: s3s-fs on loopback), against 1 replica on a
#     local folder; rounds alternate and the median of the per-round ratios is reported (goal >= 0.9 on
#     this 2-core machine, where nginx and the second replica share the same cores);
#  2. cold renders whose float levels come from the object store (ranged reads) against the local disk:
#     `cargo bench -p toyz-pyramid --bench levels_ranged`.
# Needs wrk and nginx (Debian: apt-get install wrk nginx-light).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-8192}
DUR=${DUR:-10s}
CONN=${CONN:-32}
ROUNDS=${ROUNDS:-3}
WORK=$(mktemp -d)
for t in wrk nginx curl; do command -v $t > /dev/null || { echo "$t is not installed"; exit 1; }; done
cargo build --release -q -p toyz-cli -p toyz-skygen -p toyz-s3-server
T=target/release/toyz
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx/nginx.pid" ] && kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
wait_up() { for _ in $(seq 200); do curl -sf "$1/healthz" > /dev/null && return 0; sleep 0.05; done; echo "$1 did not start"; exit 1; }

mkdir -p "$WORK/data"
IMG="$WORK/data/sky.fits"
target/release/toyz-skygen "$IMG" --size "${SIZE}x${SIZE}" --nan-patches > /dev/null

# The object store, and the tiles pre-built into it and into a local folder (the same spec).
target/release/toyz-s3-server "$WORK/s3" --bucket tiles > "$WORK/s3.addr" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/s3.addr" ] && break; sleep 0.05; done
export AWS_ENDPOINT_URL=$(cat "$WORK/s3.addr") AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=toyz-test AWS_SECRET_ACCESS_KEY=toyz-test-secret
$T tiles build "$IMG" --cache s3://tiles/bench --levels "$WORK/levels-build" > /dev/null
$T tiles build "$IMG" --cache "$WORK/local" > /dev/null

serve() { # port cache [extra...]
  local port=$1 cache=$2; shift 2
  TOYZ_LOG=warn $T serve --root bench="$WORK/data" --bind 127.0.0.1:"$port" --cache "$cache" \
    --memory-cache 1GiB "$@" > "$WORK/serve-$port.log" 2>&1 &
  PIDS+=($!)
  wait_up "http://127.0.0.1:$port"
}
P1=$(free_port); serve "$P1" "$WORK/local"
P2=$(free_port); serve "$P2" s3://tiles/bench --levels "$WORK/levels-a"
P3=$(free_port); serve "$P3" s3://tiles/bench --levels "$WORK/levels-b"
NP=$(free_port); NP1=$(free_port)
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<NGX
worker_processes auto;
daemon on;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  upstream replicas { server 127.0.0.1:$P2; server 127.0.0.1:$P3; keepalive 64; }
  upstream single { server 127.0.0.1:$P1; keepalive 64; }
  server {
    listen 127.0.0.1:$NP;
    location / { proxy_pass http://replicas; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host \$http_host; }
  }
  server {
    listen 127.0.0.1:$NP1;
    location / { proxy_pass http://single; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host \$http_host; }
  }
}
NGX
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
wait_up "http://127.0.0.1:$NP"

SRC=$(curl -sf "http://127.0.0.1:$P1/api/sources?path=bench/sky.fits")
TILES=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['tiles'])" "$SRC")
ZMAX=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['zmax'])" "$SRC")
N=$((1 << ZMAX))
echo "${TILES%/\{z\}/\{x\}/\{y\}.png}" > "$WORK/prefix.txt"
# Every tile fetched once through each front (the replicas read them from the store into memory).
python3 - "$TILES" "$ZMAX" "http://127.0.0.1:$P1" "http://127.0.0.1:$P2" "http://127.0.0.1:$P3" <<'PY'
import sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
tiles, z, bases = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
n = 1 << z
urls = [b + tiles.replace("{z}/{x}/{y}", f"{z}/{x}/{y}") for b in bases for x in range(n) for y in range(n)]
with ThreadPoolExecutor(8) as ex:
    for body in ex.map(lambda u: urllib.request.urlopen(u).read(), urls):
        assert body[1:4] == b"PNG"
PY

run_wrk() { # label url
  TILE_PREFIXES="$WORK/prefix.txt" TILE_Z=$ZMAX TILE_N=$N wrk -t2 -c"$CONN" -d"$DUR" --latency \
    -s benches/random_tiles.lua "$2" > "$WORK/wrk-$1.txt"
  python3 benches/wrk_summary.py "$WORK/wrk-$1.txt" "$1" 28
}

echo "== 1. warm level-$ZMAX tiles of a ${SIZE}x${SIZE} image: 2 replicas on S3 behind nginx vs 1 on a local folder"
echo "   (the same nginx in front of both, as a deployment with TLS has; and 1 replica without nginx)"
rps() { cat "$WORK/wrk-$1.txt.rps"; }
R_NGINX=(); R_DIRECT=()
for round in $(seq "$ROUNDS"); do
  run_wrk "1-local-direct" "http://127.0.0.1:$P1"
  run_wrk "1-local-nginx" "http://127.0.0.1:$NP1"
  run_wrk "2-s3-nginx" "http://127.0.0.1:$NP"
  R_NGINX+=("$(python3 -c "print($(rps 2-s3-nginx) / $(rps 1-local-nginx))")")
  R_DIRECT+=("$(python3 -c "print($(rps 2-s3-nginx) / $(rps 1-local-direct))")")
done
python3 -c "
import statistics
for name, r in [('1 replica on a local folder behind nginx', '${R_NGINX[*]}'), ('1 replica on a local folder, no nginx', '${R_DIRECT[*]}')]:
    r = [float(x) for x in r.split()]
    print(f'warm: 2 replicas on S3 behind nginx / {name}: per round ' + ' '.join(f'{x:.2f}' for x in r) + f'; median {statistics.median(r):.2f}')"

echo "== 2. cold renders: float levels from the object store (ranged reads) vs the local disk"
cargo bench -q -p toyz-pyramid --bench levels_ranged 2>/dev/null | grep -E "levels_ranged|round"
