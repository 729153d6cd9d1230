#!/usr/bin/env bash
# A full DECam exposure (61 CCDs of 2046×4094 float32, TPV WCS, fpack RICE with one row per tile and
# dithered quantisation, as the community pipeline writes it; made by toyz-skygen --decam):
#   1. the whole-plane pyramid (`toyz tiles build --hdu mosaic --out`) against `funpack` decompressing
#      the same file, side by side in one run: seconds, peak anonymous memory, and the toyz/funpack
#      time ratio (target <= 1.0, peak <= 512 MiB);
#   2. the first view of the never-seen exposure through a fresh `toyz serve` (benches/first_view.py:
#      describe + every tile of the level that fits a 1200x800 window; target <= 3 s).
#   benches/decam_mosaic.sh          (RUNS=3 to repeat; needs funpack: apt-get install libcfitsio-bin)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-1}
WORK=${BENCH_DIR:-benches/out}
mkdir -p "$WORK"
command -v funpack > /dev/null || { echo "funpack not found: apt-get install libcfitsio-bin"; exit 1; }
cargo build --release -q -p toyz-cli -p toyz-skygen
EXP="$WORK/decam.fits.fz"
[ -f "$EXP" ] || target/release/toyz-skygen "$EXP" --decam
MIB=$(python3 -c "import os; print(os.path.getsize('$EXP') / 2**20)")
cat "$EXP" > /dev/null # both read the file from the page cache

measure() { # command... -> sets SECS and PEAK
  local log
  log=$(mktemp)
  python3 benches/peakmem.py "$@" > /dev/null 2> "$log" || { cat "$log"; exit 1; }
  SECS=$(tail -n 1 "$log" | python3 -c "import json,sys; print(json.load(sys.stdin)['seconds'])")
  PEAK=$(tail -n 1 "$log" | python3 -c "import json,sys; print(json.load(sys.stdin)['peak_rss_anon_mib'])")
  rm -f "$log"
}

printf 'exposure %s (%.0f MiB)\n' "$EXP" "$MIB"
printf '%-8s %9s %16s\n' tool seconds "peak RssAnon MiB"
# Each run writes into a new folder and old ones are deleted only at the end: ext4 skips inodes freed
# in the last minutes when it allocates new ones, so creating 16 000 tiles right after deleting as many
# costs a third more time in the kernel (seen with perf: recently_deleted, find_inode_bit).
TRASH="$WORK/decam-trash"
mkdir -p "$TRASH"
[ -d "$WORK/decam-tiles" ] && mv "$WORK/decam-tiles" "$TRASH/old.$$"
trap 'rm -rf "$TRASH"' EXIT
for run in $(seq "$RUNS"); do
  rm -f "$WORK/decam-funpacked.fits"
  measure funpack -O "$WORK/decam-funpacked.fits" "$EXP"
  F_SECS=$SECS F_PEAK=$PEAK
  rm -f "$WORK/decam-funpacked.fits"
  [ -d "$WORK/decam-tiles" ] && mv "$WORK/decam-tiles" "$TRASH/run.$run"
  measure target/release/toyz tiles build "$EXP" --hdu mosaic --out "$WORK/decam-tiles" --stretch asinh --cut zscale
  T_SECS=$SECS T_PEAK=$PEAK
  printf '%-8s %9.2f %16.1f\n' funpack "$F_SECS" "$F_PEAK"
  printf '%-8s %9.2f %16.1f\n' toyz "$T_SECS" "$T_PEAK"
  TILES=$(find "$WORK/decam-tiles" -name '*.png' -path '*/[0-9]*' | wc -l)
  python3 -c "print(f'run $run: whole-plane pyramid ($TILES tiles) / funpack alone = {$T_SECS/$F_SECS:.2f} (target <= 1.0); peak {$T_PEAK:.0f} MiB (target <= 512)')"

  # First view: a fresh server and an empty cache.
  rm -rf "$WORK/fv-cache"
  target/release/toyz serve --bind 127.0.0.1:0 --root "bench=$WORK" --cache "$WORK/fv-cache" > "$WORK/serve.out" 2>&1 &
  PID=$!
  for _ in $(seq 100); do grep -q http "$WORK/serve.out" && break; sleep 0.1; done
  URL=$(grep -o 'http://[^ ]*' "$WORK/serve.out" | head -1)
  FV=$(python3 benches/first_view.py "$URL" bench/decam.fits.fz mosaic)
  kill "$PID"; wait "$PID" 2> /dev/null || true
  python3 -c "import json; v=json.loads('$FV'); print(f\"run $run: first view {v['first_view_s']:.2f} s (target <= 3), description {v['describe_s']:.2f} s, {v['tiles']} tiles of level {v['level']} for {v['width']}x{v['height']} px\")"
done
