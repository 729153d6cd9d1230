#!/usr/bin/env python3
"""Generate the celestial-projection reference data that crates/toyz-fits/src/proj.rs tests against.

Usage (from anywhere):  python3 crates/toyz-fits/tools/gen_wcs_ref.py
Requires: python3, numpy, astropy (the committed files were made with astropy 8.0.2, WCSLIB 8.6;
every file's first line names the versions that made it).
Deterministic: fixed headers, fixed point grids and a seeded RNG; re-running with the same
astropy/WCSLIB rewrites identical files.

Writes crates/toyz-fits/tests/data/wcs/<name>.txt, one file per header:
  1904-66_<CODE>.txt  WCSLIB's own test headers, as astropy ships them
                      (astropy/wcs/tests/data/maps/1904-66_*.hdr): CRVAL (0,-90), LONPOLE 180,
                      LATPOLE and PV2_j set, a 192x192 image far from the reference point.
                      (1904-66_NCP is SIN with PV2_2 = -1.2e-8; WCSLIB ships no XPH map.)
  <CODE>_<what>.txt   headers of our own (HEADERS below): other CRVAL, LONPOLE/LATPOLE, PV
                      values, a rotated and skewed PC matrix, DEC-first axis order,
                      galactic/ecliptic axes, phi0/theta0 fiducial offsets, the NCP alias.

File format:
  # comment
  H <80-column header card, exactly as WCSLIB read it>
  P px py ix iy lon lat        pixel (FITS 1-based) -> intermediate -> world, astropy defined it and
                               world -> pixel returns to px py within 1e-9 px
  C px py ix iy lon lat sx sy  (CSC only) as P, but CSC's forward and inverse are independent
                               polynomial approximations (in single precision) that disagree by up
                               to ~0.013 deg, so (sx, sy) is WCSLIB's world -> intermediate of
                               (lon, lat) instead of a round trip
  U px py ix iy                pixel that WCSLIB rejects (stat != 0 or NaN world)
  D px py ix iy lon lat        (only with WRITE_DROPPED = True, off for the committed files) a
                               dropped point, see below: proj.rs checks pixel -> world only
  V lon lat                    world point that WCSLIB rejects going world -> pixel
where
  ix iy    intermediate world coordinates (astropy's imgcrd, degrees) in HEADER AXIS ORDER, i.e.
           (ix, iy) = (x, y) of the projection unless the header is DEC-first
  lon lat  celestial longitude and latitude, degrees, as WCSLIB returns them (lon may be < 0 when
           CRVAL of the longitude axis is < 0)
  every number is Python's repr() of a double.

Where the numbers come from: wcs.wcs.p2s(pix, 1) (imgcrd, world, stat) and wcs.wcs.s2p(world, 1)
of astropy.wcs.WCS(header, fix=False), i.e. WCSLIB's wcsset/wcsp2s/wcss2p without wcsfix; the
script checks that fix=True gives the same world coordinates. astropy reports NaN imgcrd for
rejected pixels, so U lines carry ix iy computed here from CDELT/PC (checked against WCSLIB's
imgcrd on the accepted pixels to 1e-12 relative).

Points per header: a 6x6 grid over the image; pixels of 40 random sky points; a 7x7 grid over
1.2x the extent of the projection plane (many land outside: U lines); the reference pixel; and
for 20 rays from the reference point the edge of the projection's domain found by bisection,
with points 1e-3 and 1e-6 (relative) inside it and one 1e-6 outside it. V lines: up to 20 of 400
random sky points that world -> pixel rejects. Points astropy accepts that do not round-trip
(pixel -> world -> pixel off by more than 1e-9 px) are dropped and counted in a comment: edge
points next to a pole (where world -> pixel is ill-conditioned), on the seams of the quad-cube
layouts, and at SZP's edge (where WCSLIB's world -> pixel rejects what pixel -> world accepts).
"""

import math
import os
import sys
import warnings

import numpy as np
import astropy
from astropy.io import fits
from astropy.wcs import WCS, _wcs

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "tests", "data", "wcs"))
MAPS = os.path.join(os.path.dirname(_wcs.__file__), "tests", "data", "maps")
# V lines: at most VMAX of NWORLD random sky points.
VMAX, NWORLD = 20, 400
# Write the dropped points as D lines (for ad-hoc wider checks; off for the committed data).
WRITE_DROPPED = False
VERSION = f"astropy {astropy.__version__} (WCSLIB {_wcs.WCSLIB_VERSION})"


def card(key, value, comment=None):
    return str(fits.Card(key, value, comment))


def own_header(code, crval, naxis=(300, 200), crpix=None, cdelt=(-0.05, 0.05), pc=None,
               lonpole=None, latpole=None, pv=(), axes=("RA--", "DEC-"), decfirst=False):
    """Cards of a header of our own. crval is (lon, lat); pv is ((i, m, value), ...) with i the
    FITS axis number; decfirst puts the latitude axis first."""
    if crpix is None:
        crpix = (naxis[0] / 2 + 0.3, naxis[1] / 2 - 0.2)
    lon = (axes[0] + "-" * 4)[:4] + "-" + code
    lat = (axes[1] + "-" * 4)[:4] + "-" + code
    ctype = (lat, lon) if decfirst else (lon, lat)
    val = (crval[1], crval[0]) if decfirst else crval
    cards = [card("NAXIS", 2), card("NAXIS1", naxis[0]), card("NAXIS2", naxis[1])]
    for i in (0, 1):
        cards += [card(f"CTYPE{i + 1}", ctype[i]), card(f"CRPIX{i + 1}", crpix[i]),
                  card(f"CDELT{i + 1}", cdelt[i]), card(f"CRVAL{i + 1}", val[i])]
    if pc is not None:
        for i in (0, 1):
            for j in (0, 1):
                cards.append(card(f"PC{i + 1}_{j + 1}", pc[i][j]))
    if lonpole is not None:
        cards.append(card("LONPOLE", lonpole))
    if latpole is not None:
        cards.append(card("LATPOLE", latpole))
    for i, m, v in pv:
        cards.append(card(f"PV{i}_{m}", v))
    if axes[0] == "RA--":
        cards += [card("RADESYS", "ICRS")]
    return cards


ROT = 30.0 * math.pi / 180
PC_ROT = ((math.cos(ROT), -math.sin(ROT) * 1.1), (math.sin(ROT) * 0.9, math.cos(ROT)))

# name -> cards. Every projection at least once, on top of WCSLIB's 1904-66 maps.
HEADERS = {
    "AZP_mu0.8": own_header("AZP", (150.1, 2.2), pv=((2, 1, 0.8), (2, 2, 25.0))),
    "AZP_mu3": own_header("AZP", (10.0, 60.0), lonpole=150.0, pv=((2, 1, 3.0), (2, 2, -15.0))),
    "SZP_mu1.5": own_header("SZP", (300.0, -45.0), pv=((2, 1, 1.5), (2, 2, 45.0), (2, 3, 70.0))),
    "SZP_mu0.5": own_header("SZP", (200.0, 30.0), lonpole=200.0,
                            pv=((2, 1, 0.5), (2, 2, 200.0), (2, 3, 50.0))),
    "TAN_rotpc": own_header("TAN", (150.1, 2.2), pc=PC_ROT, cdelt=(-0.02, 0.03)),
    "TAN_decfirst": own_header("TAN", (300.0, -45.0), decfirst=True, cdelt=(0.05, -0.05),
                               lonpole=170.0),
    "TAN_offset": own_header("TAN", (10.0, 60.0), pv=((1, 0, 1.0), (1, 1, 0.0), (1, 2, 60.0))),
    "STG_galactic": own_header("STG", (120.0, -30.0), axes=("GLON", "GLAT"), lonpole=170.0),
    "SIN_slant": own_header("SIN", (10.0, 60.0), pv=((2, 1, 0.1), (2, 2, -0.2))),
    "ARC_ecliptic": own_header("ARC", (200.0, 30.0), axes=("ELON", "ELAT"), lonpole=190.0),
    "ZPN_quadratic": own_header("ZPN", (150.1, 2.2), pv=((2, 1, 1.0), (2, 2, -0.2))),
    "ZPN_decfirst": own_header("ZPN", (300.0, -45.0), decfirst=True,
                               pv=((1, 0, 0.0), (1, 1, 1.0), (1, 3, -0.05), (1, 5, 0.002))),
    "ZEA_neglon": own_header("ZEA", (-30.0, 70.0), pc=PC_ROT),
    "AIR_thetab20": own_header("AIR", (200.0, 30.0), pv=((2, 1, 20.0),)),
    "CYP_mu2": own_header("CYP", (150.1, 2.2), pv=((2, 1, 2.0), (2, 2, 0.8))),
    "CEA_galactic": own_header("CEA", (0.0, 0.0), axes=("GLON", "GLAT"), pv=((2, 1, 0.5),)),
    "CAR_fiducial": own_header("CAR", (150.1, 2.2), pv=((1, 1, 20.0), (1, 2, -10.0))),
    "CAR_offset": own_header("CAR", (10.0, 60.0), pv=((1, 0, 1.0), (1, 1, 30.0), (1, 2, 15.0))),
    "CAR_latpole": own_header("CAR", (30.0, 20.0), lonpole=60.0, latpole=-60.0),
    "MER_galactic": own_header("MER", (266.4, -28.9), axes=("GLON", "GLAT")),
    "COP_60": own_header("COP", (10.0, 60.0), pv=((2, 1, 60.0), (2, 2, 10.0))),
    "COE_30": own_header("COE", (300.0, -45.0), pv=((2, 1, 30.0), (2, 2, 20.0))),
    "COD_m30": own_header("COD", (150.1, 2.2), pv=((2, 1, -30.0), (2, 2, 15.0))),
    "COO_latpole": own_header("COO", (200.0, 30.0), latpole=-90.0, pv=((2, 1, 40.0), (2, 2, 0.0))),
    "SFL_south": own_header("SFL", (45.0, -80.0)),
    "PAR_lonpole": own_header("PAR", (10.0, 60.0), lonpole=20.0),
    "MOL_ecliptic": own_header("MOL", (300.0, -45.0), axes=("ELON", "ELAT")),
    "AIT_galactic": own_header("AIT", (0.0, 0.0), axes=("GLON", "GLAT"), cdelt=(-0.5, 0.5)),
    "BON_30": own_header("BON", (150.1, 2.2), pv=((2, 1, 30.0),)),
    "BON_m50": own_header("BON", (10.0, 60.0), pv=((2, 1, -50.0),), pc=PC_ROT),
    "PCO_north": own_header("PCO", (10.0, 60.0)),
    "TSC_south": own_header("TSC", (300.0, -45.0)),
    "CSC_equator": own_header("CSC", (150.1, 2.2)),
    "QSC_galactic": own_header("QSC", (10.0, 60.0), axes=("GLON", "GLAT")),
    "HPX_default": own_header("HPX", (150.1, 2.2)),
    "HPX_H6K4": own_header("HPX", (0.0, 0.0), axes=("GLON", "GLAT"), pv=((2, 1, 6.0), (2, 2, 4.0))),
    "XPH_pole": own_header("XPH", (0.0, 90.0), axes=("GLON", "GLAT"), cdelt=(-0.5, 0.5)),
    "XPH_south": own_header("XPH", (300.0, -45.0), lonpole=30.0),
    "NCP_alias": own_header("NCP", (10.0, 60.0)),
}


def map_cards(code):
    text = open(os.path.join(MAPS, f"1904-66_{code}.hdr")).read()
    assert len(text) % 80 == 0, code
    cards = [text[i:i + 80] for i in range(0, len(text), 80)]
    return [c for c in cards if c.strip() and not c.startswith("END     ")]


def make_wcs(cards, fix):
    hdr = fits.Header.fromstring("".join(cards))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = WCS(hdr, fix=fix)
    w.wcs.set()
    return w


class Ref:
    """One header: astropy's WCS and the linear part, for the intermediate coordinates."""

    def __init__(self, cards):
        self.w = make_wcs(cards, fix=False)
        self.wfix = make_wcs(cards, fix=True)
        ww = self.w.wcs
        self.lng, self.lat = ww.lng, ww.lat
        self.code = ww.ctype[self.lng][5:8]
        self.crpix = np.array(ww.crpix, dtype=float)
        self.cdelt = np.array(ww.get_cdelt(), dtype=float)
        self.pc = np.array(ww.get_pc(), dtype=float)
        self.m = self.cdelt[:, None] * self.pc
        self.unity = bool(np.all(self.pc == np.eye(2)))
        self.naxis = (self.w.pixel_shape or (192, 192))

    def imgcrd(self, pix):
        d = pix - self.crpix
        if self.unity:
            return self.cdelt * d
        return np.stack([self.m[0, 0] * d[:, 0] + self.m[0, 1] * d[:, 1],
                         self.m[1, 0] * d[:, 0] + self.m[1, 1] * d[:, 1]], axis=1)

    def pixel(self, img):
        return np.linalg.solve(self.m, img.T).T + self.crpix

    def p2s(self, pix):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = self.w.wcs.p2s(pix, 1)
        ok = (r["stat"] == 0) & np.all(np.isfinite(r["world"]), axis=1)
        return r, ok

    def s2p(self, world):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = self.w.wcs.s2p(world, 1)
        ok = (r["stat"] == 0) & np.all(np.isfinite(r["pixcrd"]), axis=1)
        return r, ok

    def valid_img(self, img):
        return self.p2s(self.pixel(img))[1]


def sphere(rng, n):
    lon = rng.uniform(0.0, 360.0, n)
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    return lon, lat


def candidates(ref, rng):
    """Pixel points to try, each with a flag saying whether it is written in full precision."""
    pts, exact = [], []
    nx, ny = ref.naxis
    for i in range(6):
        for j in range(6):
            pts.append((0.5 + nx * (i + 0.37) / 6, 0.5 + ny * (j + 0.61) / 6))
            exact.append(False)
    # Pixels of random sky points (where world -> pixel is defined).
    lon, lat = sphere(rng, 40)
    world = np.zeros((40, 2))
    world[:, ref.lng], world[:, ref.lat] = lon, lat
    r, ok = ref.s2p(world)
    for p in r["pixcrd"][ok]:
        pts.append(tuple(p))
        exact.append(False)
    # Extent of the projection plane, from a native grid (capped for divergent projections).
    prj = ref.w.wcs.cel.prj
    phi, theta = np.meshgrid(np.linspace(-180, 180, 73), np.linspace(-90, 90, 37))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, y = prj.prjs2x(phi.ravel(), theta.ravel())
    good = np.isfinite(x) & np.isfinite(y) & (np.abs(x) < 600) & (np.abs(y) < 600)
    xs, ys = x[good], y[good]
    xmin, xmax, ymin, ymax = xs.min(), xs.max(), ys.min(), ys.max()
    cx, cy, hx, hy = (xmin + xmax) / 2, (ymin + ymax) / 2, (xmax - xmin) * 0.6, (ymax - ymin) * 0.6
    grid = []
    for i in range(7):
        for j in range(7):
            gx = cx - hx + 2 * hx * (i + 0.53) / 7
            gy = cy - hy + 2 * hy * (j + 0.47) / 7
            grid.append((gx, gy))
    xy = np.array(grid)
    img = np.zeros_like(xy)
    img[:, ref.lng], img[:, ref.lat] = xy[:, 0], xy[:, 1]
    for p in ref.pixel(img):
        pts.append(tuple(p))
        exact.append(False)
    # The reference pixel itself.
    pts.append(tuple(ref.crpix))
    exact.append(True)
    # Edges of the domain along rays from the reference point, by bisection.
    nray, rmax = 20, 2000.0
    ang = np.radians(np.arange(nray) * 360.0 / nray + 7.3)
    d = np.zeros((nray, 2))
    d[:, ref.lng], d[:, ref.lat] = np.cos(ang), np.sin(ang)
    lo, hi = np.zeros(nray), np.full(nray, rmax)
    base = ref.valid_img(np.zeros((nray, 2)))
    far = ref.valid_img(d * rmax)
    for _ in range(80):
        mid = (lo + hi) / 2
        v = ref.valid_img(d * mid[:, None])
        lo, hi = np.where(v, mid, lo), np.where(v, hi, mid)
    for k in range(nray):
        if not base[k] or far[k] or lo[k] == 0.0:
            continue
        for f in (1 - 1e-3, 1 - 1e-6, 1 + 1e-6):
            p = ref.pixel((d[k] * lo[k] * f)[None, :])[0]
            pts.append(tuple(p))
            exact.append(True)
    return np.array(pts), exact


def fmt(v):
    return repr(float(v))


def generate(name, cards):
    ref = Ref(cards)
    rng = np.random.default_rng(sum(map(ord, name)) * 7919)
    pts, exact = candidates(ref, rng)
    pts = np.array([p if e else (round(p[0], 4), round(p[1], 4)) for p, e in zip(pts, exact)])
    r, ok = ref.p2s(pts)
    mine = ref.imgcrd(pts)
    if ok.any():
        err = np.abs(mine[ok] - r["imgcrd"][ok]) / np.maximum(1.0, np.abs(r["imgcrd"][ok]))
        assert err.max() < 1e-12, (name, err.max())
    # fix=True must agree with fix=False.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rf = ref.wfix.wcs.p2s(pts, 1)
    same = np.allclose(rf["world"][ok], r["world"][ok], rtol=0, atol=1e-9)
    lines, nodd = [], 0
    world = r["world"]
    back, bok = ref.s2p(np.where(ok[:, None], world, 0.0))
    csc = ref.code == "CSC"
    for k, p in enumerate(pts):
        ix, iy = mine[k] if not ok[k] else r["imgcrd"][k]
        if not ok[k]:
            lines.append(f"U {fmt(p[0])} {fmt(p[1])} {fmt(ix)} {fmt(iy)}")
            continue
        lon, lat = world[k][ref.lng], world[k][ref.lat]
        rt = bok[k] and np.max(np.abs(back["pixcrd"][k] - p)) <= 1e-9
        if csc:
            if not bok[k]:
                nodd += 1
                continue
            sx, sy = back["imgcrd"][k]
            lines.append(f"C {fmt(p[0])} {fmt(p[1])} {fmt(ix)} {fmt(iy)} {fmt(lon)} {fmt(lat)} "
                         f"{fmt(sx)} {fmt(sy)}")
        elif rt:
            lines.append(f"P {fmt(p[0])} {fmt(p[1])} {fmt(ix)} {fmt(iy)} {fmt(lon)} {fmt(lat)}")
        else:
            nodd += 1
            if WRITE_DROPPED:
                lines.append(f"D {fmt(p[0])} {fmt(p[1])} {fmt(ix)} {fmt(iy)} {fmt(lon)} {fmt(lat)}")
    # World points that world -> pixel rejects.
    lon, lat = sphere(rng, NWORLD)
    wpts = np.zeros((NWORLD, 2))
    wpts[:, ref.lng], wpts[:, ref.lat] = lon, lat
    _, wok = ref.s2p(wpts)
    bad = np.flatnonzero(~wok)[:VMAX]
    for k in bad:
        lines.append(f"V {fmt(wpts[k][ref.lng])} {fmt(wpts[k][ref.lat])}")
    head = [f"# generated by crates/toyz-fits/tools/gen_wcs_ref.py with {VERSION}",
            "# P px py ix iy lon lat | C px py ix iy lon lat sx sy | U px py ix iy | V lon lat;"
            " ix iy in header axis order, lon lat celestial"]
    if nodd:
        what = ("accepted pixels whose world -> pixel WCSLIB rejects" if csc else
                "accepted pixels that do not round-trip to 1e-9 px in astropy")
        head.append(f"# dropped {nodd} {what}")
    if not same:
        head.append("# NOTE: astropy's fix=True gives different world coordinates for this header")
    body = head + [f"H {c}" for c in cards] + lines
    with open(os.path.join(OUT, f"{name}.txt"), "w") as f:
        f.write("\n".join(body) + "\n")
    counts = {t: sum(1 for l in lines if l[0] == t) for t in "PCUV"}
    print(f"{name:20s} {ref.code} P={counts['P']:3d} C={counts['C']:3d} U={counts['U']:3d} "
          f"V={counts['V']:2d} dropped={nodd}{'' if same else ' FIX-DIFFERS'}")


def main():
    os.makedirs(OUT, exist_ok=True)
    codes = sorted(f[8:11] for f in os.listdir(MAPS) if f.startswith("1904-66_"))
    jobs = [(f"1904-66_{c}", map_cards(c)) for c in codes] + list(HEADERS.items())
    only = set(sys.argv[1:])
    for name, cards in jobs:
        if not only or name in only:
            generate(name, cards)


if __name__ == "__main__":
    main()
