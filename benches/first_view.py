#!/usr/bin/env python3
"""First view of a never-seen image through a running toyz server, as the viewer does it: open the
source (/api/sources), then fetch every tile of the level that fits a 1200×800 window, six at a time
like a browser, until all are served. Prints one JSON line: seconds to the description, to the last
tile, the level and tile count.
  benches/first_view.py URL PATH [HDU]"""
import json
import math
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

url, path = sys.argv[1].rstrip("/"), sys.argv[2]
hdu = sys.argv[3] if len(sys.argv) > 3 else None
q = {"path": path, "stretch": "asinh", "cut": "zscale"}
if hdu:
    q["hdu"] = hdu
t0 = time.monotonic()
with urllib.request.urlopen(f"{url}/api/sources?{urllib.parse.urlencode(q)}", timeout=600) as r:
    src = json.load(r)
t_desc = time.monotonic() - t0
w, h, zmax = src["width"], src["height"], src["zmax"]
z = max(0, zmax - math.ceil(math.log2(max(w / 1200, h / 800, 1))))
side = 256 * 2 ** (zmax - z)
tiles = [(x, y) for x in range(math.ceil(w / side)) for y in range(math.ceil(h / side))]


def get(xy):
    t = src["tiles"].replace("{z}", str(z)).replace("{x}", str(xy[0])).replace("{y}", str(xy[1]))
    while True:
        try:
            with urllib.request.urlopen(url + t, timeout=600) as r:
                r.read()
                return r.status
        except urllib.error.HTTPError as e:
            if e.code != 503:
                raise
            time.sleep(0.05)


with ThreadPoolExecutor(6) as pool:
    status = list(pool.map(get, tiles))
t_all = time.monotonic() - t0
assert all(s == 200 for s in status), status
print(json.dumps({"describe_s": round(t_desc, 3), "first_view_s": round(t_all, 3), "level": z,
                  "tiles": len(tiles), "width": w, "height": h}))
