"""Generate cfitsio-made HCOMPRESS_1 / PLIO_1 test tiles.

Usage (Debian python3 with astropy/numpy; fpack/funpack from libcfitsio-bin), in a scratch folder:
    cd "$(mktemp -d)" && python3 /path/to/crates/toyz-fits/tools/tile_streams/gen.py
(with this folder on PYTHONPATH for fz.py). Writes corpus.bin (a differential corpus of many more
tiles with their decoded pixels, for comparing decoders by hand) and embedded.rs.txt (the byte arrays
embedded in the unit tests of src/tiled/hcompress.rs and plio.rs).
"""
import os, struct, subprocess, random
import numpy as np
from astropy.io import fits
import fz

W0, H0 = 40, 30

def f16(x, y):
    base = 3 * x - 2 * y
    tex = ((x * x + 3 * y * y + x * y) % 23) - 11
    blk = 40 if ((x // 8 + y // 6) % 2 == 0) else -25
    blob = 300 if (x - 20) ** 2 + (y - 15) ** 2 < 30 else 0
    return base + tex + blk + blob

def g32(x, y):
    return f16(x, y) * 2000003 + ((x * 7919 + y * 104729) % 100003) - 50000

def p16(x, y):
    if (x + 3 * y) % 17 < 6:
        return 0
    if x < 20:
        return 1000 + y
    return (x * x * 31 + y * 17) % 30000

def image(fn, w, h, dtype):
    return np.array([[fn(x, y) for x in range(w)] for y in range(h)], dtype=dtype)

def run(*args):
    subprocess.run(args, check=True, capture_output=True)

def fpack(src, args, dst):
    if os.path.exists(dst):
        os.remove(dst)
    run('fpack', *args, '-O', dst, src)

def funpack(src, smooth=False):
    if smooth:
        buf = bytearray(open(src, 'rb').read())
        old = b'ZVAL2   =                    0'
        i = buf.index(old)
        buf[i:i + len(old)] = b'ZVAL2   =                    1'
        src2 = src + '.smooth.fz'
        open(src2, 'wb').write(buf)
        src = src2
    out = src + '.out.fits'
    if os.path.exists(out):
        os.remove(out)
    run('funpack', '-O', out, src)
    return fits.getdata(out)

def split(path, decoded):
    """[(tx, ty, w, h, stream bytes, expected 2-D array)] for every tile of `path`."""
    h, streams = fz.tiles(path)
    W, H = int(h['ZNAXIS1']), int(h['ZNAXIS2'])
    tw, th = int(h['ZTILE1']), int(h['ZTILE2'])
    ntx = (W + tw - 1) // tw
    out = []
    for i, s in enumerate(streams):
        tx, ty = i % ntx, i // ntx
        x0, y0 = tx * tw, ty * th
        w, hh = min(tw, W - x0), min(th, H - y0)
        out.append((tx, ty, w, hh, s, np.asarray(decoded[y0:y0 + hh, x0:x0 + w], dtype=np.int64)))
    return out

corpus = []  # (kind, w, h, smooth, bitpix, stream, expected)

def add(kind, path, bitpix, smooth=False, decoded=None):
    if decoded is None:
        decoded = funpack(path, smooth)
    for (_, _, w, h, s, e) in split(path, decoded):
        corpus.append((kind, w, h, smooth, bitpix, s, e))
    return split(path, decoded)

def rust_bytes(name, b):
    h = bytes(b).hex()
    lines = ['    ' + h[i:i + 88] + '\\' for i in range(0, len(h), 88)]
    return 'const %s: &str = "\\\n%s\n";\n' % (name, '\n'.join(lines))

def rust_i32(name, v, per=16):
    v = [int(t) for t in v]
    lines = []
    for i in range(0, len(v), per):
        lines.append('    ' + ' '.join('%d,' % t for t in v[i:i + per]))
    return 'const %s: [i32; %d] = [\n%s\n];\n' % (name, len(v), '\n'.join(lines))

os.makedirs('work', exist_ok=True)
emb = []

# ---------------- HCOMPRESS: fixed images used by the embedded tests ----------------
s16 = image(f16, W0, H0, np.int16); fits.PrimaryHDU(s16).writeto('work/s16.fits', overwrite=True)
s32 = image(g32, W0, H0, np.int32); fits.PrimaryHDU(s32).writeto('work/s32.fits', overwrite=True)

fpack('work/s16.fits', ['-h', '-t', '16,12', '-s', '0'], 'work/s16_l.fz')
t = add('H', 'work/s16_l.fz', 16)
assert all((e == s16[ty*12:ty*12+hh, tx*16:tx*16+w]).all() for (tx, ty, w, hh, s, e) in t)
emb.append(rust_bytes('H16_LOSSLESS_T0', t[0][4]))      # 16x12 at (0,0)
emb.append(rust_bytes('H16_LOSSLESS_T8', t[8][4]))      # 8x6 at (32,24)

fpack('work/s32.fits', ['-h', '-t', '16,12', '-s', '0'], 'work/s32_l.fz')
t = add('H', 'work/s32_l.fz', 32)
assert all((e == s32[ty*12:ty*12+hh, tx*16:tx*16+w]).all() for (tx, ty, w, hh, s, e) in t)
emb.append(rust_bytes('H32_LOSSLESS_T8', t[8][4]))      # 8x6 at (32,24)

fpack('work/s16.fits', ['-h', '-t', '16,12', '-s', '-8'], 'work/s16_s8.fz')
t = add('H', 'work/s16_s8.fz', 16)
ts = add('H', 'work/s16_s8.fz', 16, smooth=True)
emb.append(rust_bytes('H16_SCALE8_T0', t[0][4]))
emb.append(rust_i32('H16_SCALE8_T0_DELTA', (t[0][5] - s16[0:12, 0:16]).ravel()))
emb.append(rust_i32('H16_SCALE8_T0_SMOOTH_DELTA', (ts[0][5] - s16[0:12, 0:16]).ravel()))

fpack('work/s32.fits', ['-h', '-t', '16,12', '-s', '-50000'], 'work/s32_s.fz')
t = add('H', 'work/s32_s.fz', 32)
ts = add('H', 'work/s32_s.fz', 32, smooth=True)
emb.append(rust_bytes('H32_SCALE50000_T8', t[8][4]))   # 8x6
emb.append(rust_i32('H32_SCALE50000_T8_DELTA', (t[8][5] - s32[24:30, 32:40]).ravel(), per=8))
emb.append(rust_i32('H32_SCALE50000_T8_SMOOTH_DELTA', (ts[8][5] - s32[24:30, 32:40]).ravel(), per=8))
print('T8 smoothing changes', int((ts[8][5] != t[8][5]).sum()), 'pixels')

# ---------------- PLIO ----------------
p = image(p16, W0, H0, np.int16); fits.PrimaryHDU(p).writeto('work/p16.fits', overwrite=True)
fpack('work/p16.fits', ['-p', '-t', '40,3'], 'work/p16.fz')
t = add('P', 'work/p16.fz', 16)
assert all((e == p[ty*3:ty*3+hh, tx*40:tx*40+w]).all() for (tx, ty, w, hh, s, e) in t)
emb.append(rust_bytes('P16_T0', t[0][4]))               # rows 0..3
emb.append(rust_bytes('P16_T9', t[9][4]))               # rows 27..30

a = np.zeros((3, 9000), dtype=np.int32)
a[0, 4095] = 77; a[0, 4200:4300] = 16777215; a[0, 5000] = 12345; a[0, 8000:] = 5
a[1, 4095] = 9; a[1, 4096:4100] = 3
a[2, 10:6010] = 4096 * 4095 + 4095; a[2, 6010] = 1; a[2, 6011] = 8000; a[2, 6012:6020] = 3; a[2, 8999] = 2
fits.CompImageHDU(a, compression_type='PLIO_1', tile_size=(9000, 1)).writeto('work/p32.fits', overwrite=True)
d = fits.getdata('work/p32.fits')
t = add('P', 'work/p32.fits', 32, decoded=d)
for i in range(3):
    emb.append(rust_bytes('P32_ROW%d' % i, t[i][4]))
# cfitsio's own round trip of row 0 and 1 is lossy (a 4095-pixel zero run before a lone pixel).
print('p32 rows equal to input:', [(d[i] == a[i]).all() for i in range(3)])
print('row0 decoded nonzero head:', np.nonzero(d[0])[0][:3], 'row1:', np.nonzero(d[1])[0][:6])

# ---------------- random differential corpus ----------------
rng = random.Random(12345)
nprng = np.random.default_rng(7)
for it in range(120):
    W = rng.randint(4, 70); H = rng.randint(4, 60)
    bitpix = rng.choice([8, 16, 16, 32, 32])
    yy, xx = np.mgrid[0:H, 0:W]
    amp = {8: 60, 16: 3000, 32: 3e8}[bitpix]
    img = amp * np.sin(xx / rng.uniform(2, 9)) * np.cos(yy / rng.uniform(2, 9))
    img += nprng.normal(0, amp / rng.choice([20, 60, 300, 3000]), img.shape)
    img[nprng.random(img.shape) < 0.02] += amp * 2
    if rng.random() < 0.3:
        img[:, : W // 3] = amp / 3
    if bitpix == 8:
        img = np.clip(img + 120, 0, 255).astype(np.uint8)
    elif bitpix == 16:
        img = np.clip(img, -32768, 32767).astype(np.int16)
    else:
        img = np.clip(img, -2**31, 2**31 - 1).astype(np.int32)
    src = 'work/r%d.fits' % it
    fits.PrimaryHDU(img).writeto(src, overwrite=True)
    tw = rng.randint(4, W); th = rng.randint(4, H)
    scale = rng.choice(['0', '0', '-2', '-3', '-16', '-100', '1.5', '4'])
    if bitpix == 32 and scale.startswith('-') and scale not in ('-2', '-3'):
        scale = '-' + str(int(scale[1:]) * 100000)
    if bitpix == 8 and scale != '0':
        scale = '0'  # lossy byte tiles overflow 0..255 and funpack then fails
    dst = 'work/r%d.fz' % it
    try:
        fpack(src, ['-h', '-t', '%d,%d' % (tw, th), '-s', scale], dst)
    except subprocess.CalledProcessError as e:
        print('fpack failed', W, H, tw, th, e.stderr); continue
    for smooth in (False, True):
        try:
            add('H', dst, bitpix, smooth=smooth)
        except subprocess.CalledProcessError as e:
            print('funpack failed', dst, smooth, e.stderr)

for it in range(40):
    W = rng.randint(1, 300); H = rng.randint(1, 20)
    bitpix = rng.choice([8, 16, 32])
    top = {8: 255, 16: 32767, 32: 2**24 - 1}[bitpix]
    img = np.zeros((H, W), dtype=np.int64)
    for _ in range(rng.randint(0, 12)):
        y = rng.randrange(H); x0 = rng.randrange(W); x1 = min(W, x0 + rng.choice([1, 1, 2, 5, 50, 400]))
        img[y, x0:x1] = rng.choice([1, 2, top, rng.randint(0, top)])
    img[nprng.random(img.shape) < rng.choice([0, 0.01, 0.3])] = rng.randint(0, top)
    dt = {8: np.uint8, 16: np.int16, 32: np.int32}[bitpix]
    img = img.astype(dt)
    tw = rng.randint(1, W); th = rng.randint(1, H)
    if bitpix == 32:
        path = 'work/q%d.fits' % it
        fits.CompImageHDU(img, compression_type='PLIO_1', tile_size=(tw, th)).writeto(path, overwrite=True)
        add('P', path, 32, decoded=fits.getdata(path))
    else:
        src = 'work/q%d.fits' % it
        fits.PrimaryHDU(img).writeto(src, overwrite=True)
        dst = 'work/q%d.fz' % it
        try:
            fpack(src, ['-p', '-t', '%d,%d' % (tw, th)], dst)
        except subprocess.CalledProcessError as e:
            print('fpack -p failed', W, H, tw, th, e.stderr[-80:]); continue
        add('P', dst, bitpix)

with open('corpus.bin', 'wb') as f:
    for (kind, w, h, smooth, bitpix, s, e) in corpus:
        f.write(kind.encode() + struct.pack('<IIBbI', w, h, int(smooth), bitpix, len(s)) + bytes(s))
        f.write(np.asarray(e, dtype='<i8').ravel().tobytes())
open('embedded.rs.txt', 'w').write('\n'.join(emb))
print('corpus records:', len(corpus), 'H:', sum(1 for c in corpus if c[0] == 'H'), 'P:', sum(1 for c in corpus if c[0] == 'P'))
