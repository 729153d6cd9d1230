#!/usr/bin/env bash
# Whole-program benchmark: `toyz tiles build --out` against the equivalent vips pipeline (vips percent ×2,
# vips linear --uchar, vips dzsave --layout google) on the same 16384² float32 image (1 GiB), side by side
# in one run. Prints tiles, seconds, s/GiB, peak anonymous memory and the vips/toyz time ratio.
# Targets on the 2-core dev machine: ratio >= 5, toyz peak RssAnon < 256 MiB, equal tile counts.
#   benches/tiles_vs_vips.sh            (SIZE=8192 for a quicker run; RUNS=3 to repeat)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-16384}
RUNS=${RUNS:-1}
WORK=${BENCH_DIR:-benches/out}
mkdir -p "$WORK"
cargo build --release -q -p toyz-cli -p toyz-skygen
IMG="$WORK/sky-$SIZE.fits"
[ -f "$IMG" ] || target/release/toyz-skygen "$IMG" --size "${SIZE}x${SIZE}" --nan-patches
GIB=$(python3 -c "import os; print(os.path.getsize('$IMG') / 2**30)")
cat "$IMG" > /dev/null # both tools read the file from the page cache

measure() { # command... -> sets SECS and PEAK; its stdout is in $WORK/last.out
  local log
  log=$(mktemp)
  python3 benches/peakmem.py "$@" > "$WORK/last.out" 2> "$log" || { cat "$log"; exit 1; }
  SECS=$(tail -n 1 "$log" | python3 -c "import json,sys; print(json.load(sys.stdin)['seconds'])")
  PEAK=$(tail -n 1 "$log" | python3 -c "import json,sys; print(json.load(sys.stdin)['peak_rss_anon_mib'])")
  rm -f "$log"
}
count() { find "$1" -regextype posix-extended -regex '.*/[0-9]+/[0-9]+/[0-9]+\.png' | wc -l; } # z/x/y tiles only (vips adds a blank.png, toyz --out the viewer's icons)

printf '%-6s %8s %9s %8s %16s\n' tool tiles seconds s/GiB "peak RssAnon MiB"
for run in $(seq "$RUNS"); do
  rm -rf "$WORK/toyz" "$WORK/vips" "$WORK/vips.v"
  measure target/release/toyz tiles build "$IMG" --out "$WORK/toyz" --cut percentile=0.5,99.5 --stretch linear --cmap grey
  T_SECS=$SECS T_PEAK=$PEAK T_TILES=$(count "$WORK/toyz")

  if command -v vips > /dev/null; then
    measure vips percent "$IMG" 0.5; S1=$SECS P1=$PEAK LO=$(cat "$WORK/last.out")
    measure vips percent "$IMG" 99.5; S2=$SECS P2=$PEAK HI=$(cat "$WORK/last.out")
    read -r A B < <(python3 -c "lo,hi=$LO,$HI; d=max(hi-lo,1e-9); print(255/d, -lo*255/d)")
    measure vips linear "$IMG" "$WORK/vips.v" "$A" "$B" --uchar; S3=$SECS P3=$PEAK
    measure vips dzsave "$WORK/vips.v" "$WORK/vips" --layout google --suffix .png --tile-size 256 --skip-blanks -1
    V_SECS=$(python3 -c "print($S1 + $S2 + $S3 + $SECS)")
    V_PEAK=$(python3 -c "print(max($P1, $P2, $P3, $PEAK))")
    V_TILES=$(count "$WORK/vips")
  fi

  printf '%-6s %8d %9.2f %8.2f %16.1f\n' toyz "$T_TILES" "$T_SECS" "$(python3 -c "print($T_SECS/$GIB)")" "$T_PEAK"
  if [ -n "${V_SECS:-}" ]; then
    printf '%-6s %8d %9.2f %8.2f %16.1f\n' vips "$V_TILES" "$V_SECS" "$(python3 -c "print($V_SECS/$GIB)")" "$V_PEAK"
    python3 -c "print(f'run $run: toyz is {$V_SECS/$T_SECS:.1f}x faster than vips; tiles equal: {$T_TILES == $V_TILES}')"
  else
    echo "vips not installed (apt-get install libvips-tools): no reference run"
  fi
done
