#!/usr/bin/env python3
"""Generate toyz-pyramid's colormap lookup tables.

Writes:
  src/colormap_data.rs             256-entry RGB u8 tables, one per colormap name
  tests/data/colormap_refs.json    float reference values for a handful of maps,
                                   computed independently of the tables

Usage (from anywhere):  python3 crates/toyz-pyramid/tools/gen_colormaps.py
Requires: python3, numpy, matplotlib (tested with matplotlib 3.11.2).

Sampling rule for every table: entry i is the colour at x = i / 255, each channel
converted with floor(v * 255 + 0.5) (round half up), clamped to 0..=255.
For matplotlib maps the colour is cmap(np.linspace(0, 1, 256))[i]; for ListedColormaps
with N = 256 (viridis, inferno, magma, plasma, cividis, turbo) this is exactly their
published table. twilight has 510 entries and is resampled by matplotlib's own lookup.
"""

import json
import math
import os
import sys

import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib as mpl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.dirname(HERE)
RS_OUT = os.path.join(CRATE, "src", "colormap_data.rs")
JSON_OUT = os.path.join(CRATE, "tests", "data", "colormap_refs.json")

# toyz name -> matplotlib colormap name
MATPLOTLIB_MAPS = {
    "viridis": "viridis",
    "inferno": "inferno",
    "magma": "magma",
    "plasma": "plasma",
    "cividis": "cividis",
    "twilight": "twilight",
    "turbo": "turbo",
    "grey": "gray",
    "hot": "hot",
    "cool": "cool",
    "coolwarm": "coolwarm",
    "jet": "jet",
    "cubehelix": "cubehelix",
    "bone": "bone",
    "copper": "copper",
    "spectral": "nipy_spectral",
}

# SAOImage DS9 pseudocolor maps (SAOColorMap: piecewise-linear (x, y) nodes per channel).
# All seven were checked against SAOImageDS9/SAOImageDS9, tksao/colorbar/default.C
# (commit 00cabec35b33bf135a26c757ad70c171d91d6468), constructors HeatColorMap,
# CoolColorMap, RainbowColorMap, AColorMap, BColorMap, BBColorMap, HEColorMap.
# Two values differ from the brief this started from; the source values are used:
#   a:  green node at x=.77 is 0 (not 1):  (0,0),(.25,1),(.5,0),(.77,0),(1,1)
#   he: green node at x=.5 is .81 (not .8)
# DS9 itself evaluates x = i/count and truncates y*255 (tksao/colorbar/sao.C,
# SAOColorMap::getColorChar); here x = i/255 and values are rounded, per toyz's rule.
DS9_MAPS = {
    "heat": {  # DS9 "heat"
        "red": [(0, 0), (0.34, 1), (1, 1)],
        "green": [(0, 0), (1, 1)],
        "blue": [(0, 0), (0.65, 0), (0.98, 1), (1, 1)],
    },
    "ds9cool": {  # DS9 "cool"
        "red": [(0, 0), (0.29, 0), (0.76, 0.1), (1, 1)],
        "green": [(0, 0), (0.22, 0), (0.96, 1), (1, 1)],
        "blue": [(0, 0), (0.53, 1), (1, 1)],
    },
    "rainbow": {  # DS9 "rainbow" (not matplotlib's)
        "red": [(0, 1), (0.2, 0), (0.6, 0), (0.8, 1), (1, 1)],
        "green": [(0, 0), (0.2, 0), (0.4, 1), (0.8, 1), (1, 0)],
        "blue": [(0, 1), (0.4, 1), (0.6, 0), (1, 0)],
    },
    "a": {  # DS9 "a"
        "red": [(0, 0), (0.25, 0), (0.5, 1), (1, 1)],
        "green": [(0, 0), (0.25, 1), (0.5, 0), (0.77, 0), (1, 1)],
        "blue": [(0, 0), (0.125, 0), (0.5, 1), (0.64, 0.5), (0.77, 0), (1, 0)],
    },
    "b": {  # DS9 "b"
        "red": [(0, 0), (0.25, 0), (0.5, 1), (1, 1)],
        "green": [(0, 0), (0.5, 0), (0.75, 1), (1, 1)],
        "blue": [(0, 0), (0.25, 1), (0.5, 0), (0.75, 0), (1, 1)],
    },
    "bb": {  # DS9 "bb"
        "red": [(0, 0), (0.5, 1), (1, 1)],
        "green": [(0, 0), (0.25, 0), (0.75, 1), (1, 1)],
        "blue": [(0, 0), (0.5, 0), (1, 1)],
    },
    "he": {  # DS9 "he"
        "red": [(0, 0), (0.015, 0.5), (0.25, 0.5), (0.5, 0.75), (1, 1)],
        "green": [(0, 0), (0.065, 0), (0.125, 0.5), (0.25, 0.75), (0.5, 0.81), (1, 1)],
        "blue": [(0, 0), (0.015, 0.125), (0.03, 0.375), (0.065, 0.625), (0.25, 0.25), (1, 1)],
    },
}

REF_MAPS = ["viridis", "inferno", "magma", "plasma", "cividis", "grey", "hot", "heat", "rainbow"]
REF_XS = [0.0, 0.25, 0.5, 0.75, 1.0]


def ds9_eval(nodes, x):
    """Linear interpolation of one DS9 channel at x (clamped to the end nodes)."""
    xs = [p[0] for p in nodes]
    ys = [p[1] for p in nodes]
    return float(np.interp(x, xs, ys))


def ds9_rgb(name, x):
    d = DS9_MAPS[name]
    return [ds9_eval(d[c], x) for c in ("red", "green", "blue")]


def to_u8(v):
    return max(0, min(255, int(math.floor(float(v) * 255.0 + 0.5))))


def mpl_cmap(mpl_name):
    return mpl.colormaps[mpl_name]


def build_tables():
    xs = np.linspace(0.0, 1.0, 256)
    tables = {}
    for toyz_name, mpl_name in MATPLOTLIB_MAPS.items():
        rgba = mpl_cmap(mpl_name)(xs)
        tables[toyz_name] = [tuple(to_u8(c) for c in row[:3]) for row in rgba]
    for toyz_name in DS9_MAPS:
        tables[toyz_name] = [tuple(to_u8(c) for c in ds9_rgb(toyz_name, i / 255.0)) for i in range(256)]
    assert len(tables) == len(MATPLOTLIB_MAPS) + len(DS9_MAPS), "duplicate name"
    return dict(sorted(tables.items()))


def write_rs(tables):
    out = []
    out.append("// Colormap lookup tables (256 RGB entries per name, sorted by name); generated, do not edit.\n")
    out.append("// Regenerate with `python3 crates/toyz-pyramid/tools/gen_colormaps.py` (needs matplotlib).\n")
    out.append("\n")
    out.append("pub(crate) static TABLES: &[(&str, [[u8; 3]; 256])] = &[\n")
    per_line = 8
    for name, rows in tables.items():
        assert len(rows) == 256
        out.append(f"    (\n        \"{name}\",\n        [\n")
        for start in range(0, 256, per_line):
            chunk = rows[start:start + per_line]
            cells = " ".join(f"[{r}, {g}, {b}]," for (r, g, b) in chunk)
            out.append(f"            {cells}\n")
        out.append("        ],\n    ),\n")
    out.append("];\n")
    os.makedirs(os.path.dirname(RS_OUT), exist_ok=True)
    with open(RS_OUT, "w") as f:
        f.write("".join(out))


def build_refs():
    """Float references computed without the tables: cmap(x) / direct DS9 interpolation."""
    refs = {}
    for name in REF_MAPS:
        rows = []
        for x in REF_XS:
            if name in DS9_MAPS:
                r, g, b = ds9_rgb(name, x)
            else:
                r, g, b, _a = mpl_cmap(MATPLOTLIB_MAPS[name])(x)
            rows.append([x, round(float(r), 6), round(float(g), 6), round(float(b), 6)])
        refs[name] = rows
    return refs


def write_refs(refs):
    os.makedirs(os.path.dirname(JSON_OUT), exist_ok=True)
    with open(JSON_OUT, "w") as f:
        f.write("{\n")
        items = list(refs.items())
        for k, (name, rows) in enumerate(items):
            body = ", ".join("[" + ", ".join(repr(v) for v in row) + "]" for row in rows)
            f.write(f'  "{name}": [{body}]' + (",\n" if k + 1 < len(items) else "\n"))
        f.write("}\n")


def main():
    tables = build_tables()
    write_rs(tables)
    write_refs(build_refs())
    print(f"wrote {RS_OUT} ({len(tables)} maps: {', '.join(tables)})", file=sys.stderr)
    print(f"wrote {JSON_OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
