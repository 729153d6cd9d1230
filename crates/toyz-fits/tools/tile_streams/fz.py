"""Minimal raw reader for fpack output: returns header dict and list of tile byte strings."""
import struct
def cards(buf, off):
    hdr = {}; order=[]
    while True:
        blk = buf[off:off+2880]; off += 2880
        end = False
        for i in range(36):
            c = blk[i*80:(i+1)*80].decode('ascii')
            k = c[:8].strip()
            if k == 'END': end = True; break
            if c[8:10] == '= ':
                v = c[10:].split('/')[0].strip() if not c[10:].strip().startswith("'") else c[10:].strip().split("'")[1]
                hdr[k] = v
        if end: return hdr, off
def tiles(path):
    buf = open(path,'rb').read()
    h0, off = cards(buf, 0)
    # skip primary data (fpack writes empty primary)
    n = 1
    naxis = int(h0.get('NAXIS',0))
    if naxis:
        for i in range(naxis): n *= int(h0['NAXIS%d'%(i+1)])
        off += ((n*abs(int(h0['BITPIX']))//8 + 2879)//2880)*2880
    h, off = cards(buf, off)
    w = int(h['NAXIS1']); rows = int(h['NAXIS2'])
    heap = off + int(h.get('THEAP', w*rows))
    tform = h['TFORM1']
    out = []
    for r in range(rows):
        cnt, o = struct.unpack('>ii', buf[off + r*w: off + r*w + 8])
        esz = 2 if 'PI' in tform else 1
        out.append(buf[heap+o: heap+o+cnt*esz])
    return h, out
