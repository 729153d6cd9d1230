#!/usr/bin/env bash
# The three benchmarks of a redesign, before and after, side by side in one invocation on one machine:
# benches/serve_vs_nginx.sh, benches/tiles_vs_vips.sh and the ws_latency bench, each run on a checkout of
# the earlier commit (BASE, a git worktree with its own release build) and then on this one, alternating
# (the machine is shared and noisy: compare the ratios within each pair, not absolute times).
#   git worktree add /tmp/base <commit> && benches/before_after.sh /tmp/base
# Both trees read the same generated image (BENCH_DIR, default benches/out).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:?usage: benches/before_after.sh BASE_CHECKOUT}
BASE=$(cd "$BASE" && pwd)
HERE=$(pwd)
export BENCH_DIR=${BENCH_DIR:-$HERE/benches/out}
export SIZE=${SIZE:-16384}
mkdir -p "$BENCH_DIR"
run() { # label dir command...
  local label=$1 dir=$2
  shift 2
  echo "=== $label ($(git -C "$dir" rev-parse --short HEAD))"
  (cd "$dir" && "$@")
}
for tree in "before:$BASE" "after:$HERE"; do
  run "serve_vs_nginx ${tree%%:*}" "${tree#*:}" benches/serve_vs_nginx.sh
done
for tree in "before:$BASE" "after:$HERE"; do
  run "tiles_vs_vips ${tree%%:*}" "${tree#*:}" benches/tiles_vs_vips.sh
done
for tree in "before:$BASE" "after:$HERE"; do
  run "ws_latency ${tree%%:*}" "${tree#*:}" cargo bench -q -p toyz-server --bench ws_latency
done
