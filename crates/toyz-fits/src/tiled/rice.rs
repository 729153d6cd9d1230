//! RICE_1 tiles, decoded in Rust. cfitsio (3.49, bundled) reads a RICE tile's bytes without checking
//! where they end, so a corrupt tile made it read past its buffer until it faulted (a bit flipped in a
//! `.fz` file killed the process with SIGSEGV). `decode` gives cfitsio's values for every stream
//! cfitsio accepts and refuses, without reading past it, every stream that would have it read beyond
//! the tile's bytes. `check_stream` is the walk the earlier guard made (kept as the reference the
//! decoder is tested against: both refuse the same streams).

/// Walk a RICE stream as `fits_rdecomp` (4-byte), `_short` (2) or `_byte` (1) would, without writing
/// anything: Err when the stream ends before `nx` pixels are decoded.
///
/// cfitsio reads a stream's bytes strictly in order and only when it needs their bits (the first
/// value, then one byte ahead), so after decoding up to bit `pos` it has read `max(⌈pos/8⌉,
/// bytepix + 1)` bytes. The walk therefore only follows the bit position: per block the `fs` code,
/// then per pixel a unary run (counted with one `leading_zeros` on a 64-bit window) and `fs` bits.
/// A block code above the escape value is refused too: cfitsio would shift past its 32-bit buffer.
#[cfg(test)]
pub(crate) fn check_stream(
    c: &[u8],
    nx: usize,
    nblock: usize,
    bytepix: usize,
) -> Result<(), &'static str> {
    let (fsbits, fsmax) = codes(c, nblock, bytepix)?;
    let (fsbits, fsmax) = (fsbits as usize, fsmax as i64);
    let short = Err("the compressed tile ends too soon");
    let bits = c.len() * 8;
    let bbits = 8 * bytepix;
    let mut pos = bytepix * 8;
    let mut i = 0usize;
    while i < nx {
        let imax = (i + nblock).min(nx);
        if pos + fsbits > bits {
            return short;
        }
        let fs = (window(c, pos) >> (64 - fsbits)) as i64 - 1;
        pos += fsbits;
        if fs < 0 {
            // A block of equal values: nothing more is read.
        } else if fs == fsmax {
            pos += bbits * (imax - i);
        } else if fs > fsmax {
            return Err("corrupt RICE bits");
        } else {
            let fs = fs as usize;
            for _ in i..imax {
                // The unary run of zeros ends at a 1 bit; a window holds at least 57 fresh bits.
                loop {
                    if pos >= bits {
                        return short;
                    }
                    let nz = window(c, pos).leading_zeros() as usize;
                    if nz < 57 {
                        pos += nz + 1;
                        break;
                    }
                    pos += 57;
                }
                pos += fs;
            }
        }
        if pos > bits {
            return short;
        }
        i = imax;
    }
    Ok(())
}

/// 64 bits of `c` from bit `pos` (most significant first), zeros past its end; at least 57 of them
/// are `c`'s own when `pos` is inside it.
#[cfg(test)]
#[inline(always)]
fn window(c: &[u8], pos: usize) -> u64 {
    let at = pos / 8;
    let w = match c.get(at..at + 8) {
        Some(b) => u64::from_be_bytes(b.try_into().expect("8 bytes")),
        None => {
            let mut b = [0u8; 8];
            let tail = c.get(at..).unwrap_or(&[]);
            b[..tail.len()].copy_from_slice(tail);
            u64::from_be_bytes(b)
        }
    };
    w << (pos % 8)
}

/// The bits of a block code and its escape value for `bytepix`-byte pixels, once the stream is long
/// enough to hold its first value and a byte of codes.
fn codes(c: &[u8], nblock: usize, bytepix: usize) -> Result<(u32, u32), &'static str> {
    let codes = match bytepix {
        1 => (3, 6),
        2 => (4, 14),
        4 => (5, 25),
        _ => return Err("RICE BYTEPIX must be 1, 2 or 4"),
    };
    if nblock == 0 {
        return Err("RICE block size 0");
    }
    if c.len() < bytepix + 1 {
        return Err("the compressed tile ends too soon");
    }
    Ok(codes)
}

/// Decode a RICE_1 tile of `out.len()` pixels of `bytepix` bytes (1, 2 or 4) in blocks of `nblock`,
/// as `fits_rdecomp`, `_short` and `_byte` do: each value wraps at its width, and is returned as
/// that width's bits (the caller reads them as u8, i16 or i32). Err when the stream would have to be
/// read past its end, or a block code is one no encoder writes.
pub(crate) fn decode(
    c: &[u8],
    nblock: usize,
    bytepix: usize,
    out: &mut [u32],
) -> Result<(), &'static str> {
    let (fsbits, fsmax) = codes(c, nblock, bytepix)?;
    let short = Err("the compressed tile ends too soon");
    let bbits = 8 * bytepix as u32;
    let mask: u32 = if bytepix == 4 {
        u32::MAX
    } else {
        (1u32 << bbits) - 1
    };
    let mut last = c[..bytepix].iter().fold(0u32, |a, &b| (a << 8) | b as u32);
    let mut bits = Bits::new(&c[bytepix..]);
    let unmap = |d: u32| if d & 1 == 0 { d >> 1 } else { !(d >> 1) };
    for block in out.chunks_mut(nblock) {
        let fs = bits.take(fsbits) as i64 - 1;
        if fs < 0 {
            block.fill(last & mask);
        } else if fs == fsmax as i64 {
            for o in block.iter_mut() {
                last = unmap(bits.take(bbits)).wrapping_add(last) & mask;
                *o = last;
            }
        } else if fs > fsmax as i64 {
            return Err("corrupt RICE bits");
        } else {
            let fs = fs as u32;
            for o in block.iter_mut() {
                let nzero = bits.unary().ok_or("the compressed tile ends too soon")?;
                let low = if fs > 0 { bits.take(fs) } else { 0 };
                let diff = nzero.wrapping_shl(fs) | low;
                last = unmap(diff).wrapping_add(last) & mask;
                *o = last;
            }
        }
        if bits.overrun() {
            return short;
        }
    }
    Ok(())
}

/// A big-endian bit reader: reads past the end give zeros and are reported by `overrun`.
struct Bits<'a> {
    c: &'a [u8],
    /// Next byte of `c` to load.
    next: usize,
    /// Loaded bits, most significant first; `n` of them are valid.
    buf: u64,
    n: u32,
}

impl<'a> Bits<'a> {
    fn new(c: &'a [u8]) -> Bits<'a> {
        Bits {
            c,
            next: 0,
            buf: 0,
            n: 0,
        }
    }

    #[inline(always)]
    fn refill(&mut self) {
        if let Some(w) = self.c.get(self.next..self.next + 8) {
            // Whole bytes are taken; the partial one is loaded again (with the same bits) next time.
            let w = u64::from_be_bytes(w.try_into().expect("8 bytes"));
            self.buf |= w >> self.n;
            let k = (63 - self.n) / 8;
            self.next += k as usize;
            self.n += k * 8;
        } else {
            while self.n <= 56 {
                let b = self.c.get(self.next).copied().unwrap_or(0);
                self.buf |= (b as u64) << (56 - self.n);
                self.next += 1;
                self.n += 8;
            }
        }
    }

    /// The next `k` bits (1 to 32).
    #[inline(always)]
    fn take(&mut self, k: u32) -> u32 {
        if self.n < k {
            self.refill();
        }
        let v = (self.buf >> (64 - k)) as u32;
        self.buf <<= k;
        self.n -= k;
        v
    }

    /// The number of 0 bits before the next 1 bit (which is consumed); None past the end.
    #[inline(always)]
    fn unary(&mut self) -> Option<u32> {
        let mut zeros = 0u32;
        loop {
            if self.n == 0 || self.buf == 0 {
                zeros = zeros.wrapping_add(self.n);
                self.buf = 0;
                self.n = 0;
                if self.next > self.c.len() + 8 {
                    return None;
                }
                self.refill();
                continue;
            }
            let z = self.buf.leading_zeros();
            if z >= self.n {
                zeros = zeros.wrapping_add(self.n);
                self.buf = 0;
                self.n = 0;
                continue;
            }
            self.buf <<= z;
            self.buf <<= 1;
            self.n -= z + 1;
            return Some(zeros.wrapping_add(z));
        }
    }

    /// Whether more bits were taken than the stream holds.
    fn overrun(&self) -> bool {
        self.next * 8 > self.c.len() * 8 + self.n as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-by-byte walk this module used first, step for step as cfitsio 3.49 decodes: the
    /// reference for the bit-position walk.
    fn bytewise(c: &[u8], nx: usize, nblock: usize, bytepix: usize) -> Result<(), &'static str> {
        let (fsbits, fsmax): (i32, i32) = match bytepix {
            1 => (3, 6),
            2 => (4, 14),
            4 => (5, 25),
            _ => return Err("RICE BYTEPIX must be 1, 2 or 4"),
        };
        if nblock == 0 {
            return Err("RICE block size 0");
        }
        let bbits = 1i32 << fsbits;
        let short = Err("the compressed tile ends too soon");
        if c.len() < bytepix + 1 {
            return short;
        }
        let mut pos = bytepix;
        let mut next = || -> Result<u32, &'static str> {
            let v = *c.get(pos).ok_or("the compressed tile ends too soon")?;
            pos += 1;
            Ok(v as u32)
        };
        let mut b: u32 = next()?;
        let mut nbits: i32 = 8;
        let mut i = 0usize;
        while i < nx {
            nbits -= fsbits;
            while nbits < 0 {
                b = b.wrapping_shl(8) | next()?;
                nbits += 8;
            }
            let fs = (b.wrapping_shr(nbits as u32) as i32).wrapping_sub(1);
            b &= (1u32 << nbits).wrapping_sub(1);
            let imax = (i + nblock).min(nx);
            if fs < 0 {
                i = imax;
            } else if fs == fsmax {
                while i < imax {
                    let mut k = bbits - nbits;
                    k -= 8;
                    while k >= 0 {
                        next()?;
                        k -= 8;
                    }
                    if nbits > 0 {
                        b = next()?;
                        b &= (1u32 << nbits) - 1;
                    } else {
                        b = 0;
                    }
                    i += 1;
                }
            } else {
                while i < imax {
                    while b == 0 {
                        nbits += 8;
                        b = next()?;
                    }
                    let nzero = nbits - (32 - b.leading_zeros()) as i32;
                    nbits -= nzero + 1;
                    if !(0..32).contains(&nbits) {
                        return Err("corrupt RICE bits");
                    }
                    b ^= 1 << nbits;
                    nbits -= fs;
                    while nbits < 0 {
                        b = b.wrapping_shl(8) | next()?;
                        nbits += 8;
                    }
                    if nbits >= 32 {
                        return Err("corrupt RICE bits");
                    }
                    b &= (1u32 << nbits).wrapping_sub(1);
                    i += 1;
                }
            }
        }
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// Any stream the fast walk accepts, the byte-by-byte walk accepts too (so cfitsio stays inside
        /// it), and for 1- and 2-byte pixels (no invalid block codes exist) they always agree.
        #[test]
        fn the_bit_walk_is_never_laxer(
            c in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            nx in 1usize..400,
            bytepix in proptest::sample::select(vec![1usize, 2, 4]),
            sparse in proptest::prelude::any::<bool>(),
        ) {
            // Mostly-zero streams reach long unary runs and many blocks; random ones hit every code.
            let c: Vec<u8> = if sparse { c.iter().map(|b| b & b.rotate_left(3) & 0x91).collect() } else { c };
            let (fast, slow) = (check_stream(&c, nx, 32, bytepix), bytewise(&c, nx, 32, bytepix));
            if fast.is_ok() {
                proptest::prop_assert!(slow.is_ok());
            }
            if bytepix < 4 {
                proptest::prop_assert_eq!(fast.is_ok(), slow.is_ok());
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// The decoder refuses exactly the streams the bit walk refuses (so never one cfitsio's
        /// byte-by-byte decoding accepts), whatever the bytes.
        #[test]
        fn the_decoder_refuses_what_the_walk_refuses(
            c in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            nx in 1usize..400,
            bytepix in proptest::sample::select(vec![1usize, 2, 4]),
            nblock in proptest::sample::select(vec![16usize, 32]),
            sparse in proptest::prelude::any::<bool>(),
        ) {
            let c: Vec<u8> = if sparse { c.iter().map(|b| b & b.rotate_left(3) & 0x91).collect() } else { c };
            let mut out = vec![0u32; nx];
            let dec = decode(&c, nblock, bytepix, &mut out);
            proptest::prop_assert_eq!(dec.is_ok(), check_stream(&c, nx, nblock, bytepix).is_ok());
            if dec.is_ok() {
                proptest::prop_assert!(bytewise(&c, nx, nblock, bytepix).is_ok());
            }
        }
    }

    #[test]
    fn streams_that_end_early_are_refused() {
        // A zero-difference block (fs = -1 → first 5 bits 0) decodes 32 pixels from 4+1 bytes.
        assert!(check_stream(&[0, 0, 0, 7, 0], 32, 32, 4).is_ok());
        // Rice-coded blocks run out of bytes: refused, never read past the end.
        assert!(check_stream(&[0, 0, 0, 7, 0b0001_0000], 64, 32, 4).is_err());
        assert!(check_stream(&[0, 0, 0, 7, 0xff, 0, 0], 1000, 32, 4).is_err());
        assert!(check_stream(&[0, 0, 0], 1, 32, 4).is_err());
        for bytepix in [1, 2, 4] {
            for len in 0..12 {
                let c = vec![0x5au8; len];
                let _ = check_stream(&c, 100, 32, bytepix);
            }
        }
    }
}
