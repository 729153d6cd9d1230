#!/usr/bin/env python3
"""Region statistics with numpy on the FITS file's pixels, independently of toyz: the reference the browser
test compares `regions.stats` with. Usage: region_stats.py FILE.fits 'REGIONS_JSON' (image-system regions as
regions.import returns them). Prints a JSON list: npix, area_px, sum, mean, median, std, min, max."""
import json
import sys

import numpy as np
from astropy.io import fits

EPS = 1e-9


def mask(r, x, y):
    """Pixels whose centres (FITS pixels are at integers) are inside region r."""
    cx, cy = r["points"][0]
    shape = r["shape"]

    def turned(angle):
        a = -np.radians(angle)
        dx, dy = x - cx, y - cy
        return dx * np.cos(a) - dy * np.sin(a), dx * np.sin(a) + dy * np.cos(a)

    if shape == "circle":
        return np.hypot(x - cx, y - cy) <= r["radius"] + EPS
    if shape == "ellipse":
        u, v = turned(r.get("angle", 0))
        a, b = r["radii"]
        return (u / a) ** 2 + (v / b) ** 2 <= 1 + EPS
    if shape == "box":
        u, v = turned(r.get("angle", 0))
        w, h = r["size"]
        return (np.abs(u) <= w / 2 + EPS) & (np.abs(v) <= h / 2 + EPS)
    if shape == "annulus":
        d = np.hypot(x - cx, y - cy)
        return (d > r["radii"][0]) & (d <= r["radii"][-1])
    if shape == "polygon":
        inside = np.zeros(x.shape, bool)
        pts = r["points"]
        for i in range(len(pts)):
            (ax, ay), (bx, by) = pts[i], pts[i - 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                cross = ((ay > y) != (by > y)) & (x < (bx - ax) * (y - ay) / (by - ay) + ax)
            inside ^= cross
        return inside
    raise ValueError(shape)


def main():
    data = fits.getdata(sys.argv[1]).astype(np.float64)
    y, x = np.mgrid[1 : data.shape[0] + 1, 1 : data.shape[1] + 1].astype(np.float64)
    out = []
    for r in json.loads(sys.argv[2]):
        m = mask(r, x, y)
        v = data[m]
        f = v[np.isfinite(v)]
        out.append({
            "npix": int(f.size), "area_px": int(m.sum()), "sum": float(f.sum()),
            "mean": float(f.mean()), "median": float(np.median(f)), "std": float(f.std()),
            "min": float(f.min()), "max": float(f.max()),
        })
    print(json.dumps(out))


if __name__ == "__main__":
    main()
