#!/usr/bin/env bash
# The toyz demo: build the release binaries, write realistic demo data (a DECam-like star field with WCS,
# a tile-compressed .fz file and a multi-extension mosaic file) into demo-data/ if it is not there yet,
# describe it, read a pixel, and pre-generate its tiles into the server cache and a static tree.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p toyz-cli -p toyz-skygen
BIN=target/release
DATA=${TOYZ_DEMO_DATA:-demo-data}
mkdir -p "$DATA"
[ -f "$DATA/field.fits" ] || $BIN/toyz-skygen "$DATA/field.fits" --size 8192x8192 --nan-patches --catalog "$DATA/field-stars.csv"
[ -f "$DATA/field.fits.fz" ] || $BIN/toyz-skygen "$DATA/field.fits.fz" --size 4096x4096 --seed 2 --compress rice
[ -f "$DATA/mosaic.fits" ] || $BIN/toyz-skygen "$DATA/mosaic.fits" --size 2048x4096 --seed 3 --mef 4

$BIN/toyz info "$DATA/field.fits"
echo
$BIN/toyz pixel "$DATA/field.fits" 4096 4096
$BIN/toyz pixel "$DATA/field.fits" --sky 10:00:24 +02:12:00
echo
$BIN/toyz tiles build "$DATA/field.fits" "$DATA/mosaic.fits" --cache tile-cache
$BIN/toyz tiles build "$DATA" --out "$DATA/tiles" --stretch asinh --cut percentile=99.5 --cmap viridis
echo
echo "Static tiles: $DATA/tiles/<file>/{z}/{x}/{y}.png with tiles.json; server cache: tile-cache/"
