//! PLIO_1 tile decoder.
//!
//! A safe, pure-Rust replacement for cfitsio's `pl_l2pi`, which reads the IRAF line list
//! wherever its header words point (before or past the tile's heap data on a crafted file) and
//! leaves the tile uninitialised when the stated length is not positive. This decoder produces
//! exactly cfitsio's pixels for every line list that stays inside its data, and an error
//! otherwise.
//!
//! A line list is a sequence of big-endian 16-bit words. Header: if word 3 is positive it is an
//! old-style list whose length (in words, header included) is word 3 and whose instructions
//! start at word 4; otherwise (cfitsio writes 7 header words: 0, 7, -100, len % 32768,
//! len / 32768, 0, 0) the length is `(word5 << 15) + word4` and the instructions start after
//! word 2's header length (words are numbered from 1). Each instruction word is
//! `opcode << 12 | data` (opcode = word / 4096, rounding towards zero like C):
//!
//! | opcode | meaning                                                              |
//! |--------|----------------------------------------------------------------------|
//! | 0      | `data` zero pixels                                                   |
//! | 1      | set the current value to `(next << 12) + data` (consumes 2 words)    |
//! | 2 / 3  | add / subtract `data` to the current value                           |
//! | 4      | `data` pixels of the current value                                   |
//! | 5      | `data - 1` zero pixels, then one of the current value                |
//! | 6 / 7  | add / subtract `data`, then one pixel of the current value           |
//!
//! Other opcodes (only from negative words) are ignored. The current value starts at 1, output
//! beyond the tile is dropped, and pixels the list does not reach are zero.

const SHORT: &str = "PLIO line list is truncated";

/// Decode one PLIO_1 tile: `c` is the tile's compressed data as stored in the FITS heap (16-bit
/// big-endian words), `out` receives exactly out.len() pixels. Errors on any inconsistency;
/// never panics.
pub(crate) fn decode(c: &[u8], out: &mut [i32]) -> Result<(), &'static str> {
    if !c.len().is_multiple_of(2) {
        return Err("PLIO data is not a whole number of 16-bit words");
    }
    let words = c.len() / 2;
    // Word `i`, numbered from 1 as in the line-list format.
    let word = |i: usize| -> Option<i32> {
        let at = i.checked_sub(1)? * 2;
        let b = c.get(at..at + 2)?;
        Some(i32::from(i16::from_be_bytes([b[0], b[1]])))
    };

    let version = word(3).ok_or(SHORT)?;
    let (len, first) = if version > 0 {
        (version, 4)
    } else {
        let (hlen, lo, hi) = (word(2), word(4), word(5));
        let (hlen, lo, hi) = (hlen.ok_or(SHORT)?, lo.ok_or(SHORT)?, hi.ok_or(SHORT)?);
        ((hi << 15) + lo, hlen + 1)
    };
    // No overflow above: |hi << 15| + |lo| < 2^30.
    let len = usize::try_from(len).map_err(|_| "PLIO line list has a non-positive length")?;
    if len == 0 {
        return Err("PLIO line list has a non-positive length");
    }
    if len > words {
        return Err("PLIO line list is longer than its tile data");
    }
    let first = usize::try_from(first)
        .ok()
        .filter(|&f| f >= 1)
        .ok_or("PLIO line list header has a bad length")?;

    let npix = out.len();
    let mut x = 0; // next output pixel
    let mut pv: i32 = 1;
    let mut ip = first;
    while ip <= len && x < npix {
        let w = word(ip).ok_or(SHORT)?;
        let data = w & 4095;
        match w / 4096 {
            op @ (0 | 4 | 5) => {
                // `data` is at most 4095, so this cannot overflow.
                let end = x + data as usize;
                let stop = end.min(npix);
                out[x..stop].fill(if op == 4 { pv } else { 0 });
                if op == 5 && end > x && end <= npix {
                    out[end - 1] = pv;
                }
                x = stop;
            }
            1 => {
                let hi = word(ip + 1).ok_or(SHORT)?;
                pv = (hi << 12).wrapping_add(data);
                ip += 1;
            }
            2 => pv = pv.wrapping_add(data),
            3 => pv = pv.wrapping_sub(data),
            op @ (6 | 7) => {
                pv = if op == 6 {
                    pv.wrapping_add(data)
                } else {
                    pv.wrapping_sub(data)
                };
                out[x] = pv;
                x += 1;
            }
            _ => {}
        }
        ip += 1;
    }
    out[x..].fill(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    //! `P16_*` were made by cfitsio's fpack 4.2 (`fpack -p -t 40,3`) from the 40×30 16-bit image
    //! `p16`, `P32_*` by astropy 5.2 (which calls cfitsio's `pl_p2li`) from 9000×1 tiles of a
    //! 32-bit image; the expected pixels are what funpack / astropy decode. Generator:
    //! `tools/tile_streams/gen.py`, output in embedded.rs.txt.

    use super::decode;
    use crate::tiled::testing::{hex, Rng};

    fn p16(x: i32, y: i32) -> i32 {
        if (x + 3 * y) % 17 < 6 {
            0
        } else if x < 20 {
            1000 + y
        } else {
            (x * x * 31 + y * 17) % 30000
        }
    }

    fn run(c: &[u8], n: usize) -> Result<Vec<i32>, &'static str> {
        let mut out = vec![-7; n];
        decode(c, &mut out).map(|()| out)
    }

    /// A line list with cfitsio's 7-word header around `ops`.
    fn ll(ops: &[u16]) -> Vec<u8> {
        let len = ops.len() + 7;
        let header = [
            0,
            7,
            0xFF9C,
            (len % 32768) as u16,
            (len / 32768) as u16,
            0,
            0,
        ];
        header
            .iter()
            .chain(ops)
            .flat_map(|w| w.to_be_bytes())
            .collect()
    }

    const P16_T0: &str = "\
        00000007ff9c004500000000000023e70006400b100f0004500765b165ef662d666b66a966e76725676316d0\
        0000400167df3ac60009400b10810003500764f76535657365b165ef662d666b66a966e7672510a800035007\
        6915695313ea0000400b0006400310920003400164f76535657365b165ef662d666b16ee00015007685b6899\
        68d769156953\
    ";

    const P16_T9: &str = "\
        00000007ff9c0048000000000000240240040006400a123b000340011a120005500766a966e7672510fa0000\
        400167a167df681d685b689968d71404000050030006400b179c0004500765ef662d666b66a966e76725110b\
        0000400167a167df681d140500000009400b1754000350076535657365b165ef662d666b66a966e76725111c\
        000040011b99000350076953\
    ";

    const P32_ROW0: &str = "\
        00000007ff9c0014000000000000204c60001fff0fff006840641039000352bd100500000bb743e8\
    ";

    const P32_ROW1: &str = "\
        00000007ff9c000d00000000000020086000300640040fff0325\
    ";

    const P32_ROW2: &str = "\
        00000007ff9c00170000000000001fff0fff000a4fff47711001000040011f40000140011003000040083001\
        5ba4\
    ";

    #[test]
    fn fpack_tiles_match_cfitsio() {
        for (c, y0) in [(P16_T0, 0), (P16_T9, 27)] {
            let want: Vec<i32> = (y0..y0 + 3)
                .flat_map(|y| (0..40).map(move |x| p16(x, y)))
                .collect();
            assert_eq!(run(&hex(c), 120).unwrap(), want);
        }
    }

    #[test]
    fn long_runs_and_large_values_match_cfitsio() {
        let mut row = vec![0; 9000];
        row[10..6010].fill(16_777_215);
        row[6010] = 1;
        row[6011] = 8000;
        row[6012..6020].fill(3);
        row[8999] = 2;
        assert_eq!(run(&hex(P32_ROW2), 9000).unwrap(), row);

        // cfitsio's encoder turns a zero run of exactly 4095 pixels before a lone pixel into
        // "set and output one pixel" (0x6000), so its own decoder drops those zeros: the row
        // comes back shifted left by 4095 pixels and zero-filled. The same must happen here.
        let mut row0 = vec![0; 9000];
        row0[4095] = 77;
        row0[4200..4300].fill(16_777_215);
        row0[5000] = 12345;
        row0[8000..].fill(5);
        let mut row1 = vec![0; 9000];
        row1[4095] = 9;
        row1[4096..4100].fill(3);
        for (c, row) in [(P32_ROW0, row0), (P32_ROW1, row1)] {
            let mut shifted = row[4095..].to_vec();
            shifted.resize(9000, 0);
            assert_eq!(run(&hex(c), 9000).unwrap(), shifted);
        }
    }

    #[test]
    fn every_opcode() {
        let c = ll(&[
            0x4003, // 3 × pv (1)
            0x2005, // pv += 5
            0x4002, // 2 × 6
            0x0002, // 2 zeros
            0x3001, // pv -= 1
            0x5003, // 0, 0, 5
            0x6001, // pv += 1, output 6
            0x7002, // pv -= 2, output 4
            0x1ABC, // pv = 0x123 << 12 | 0xABC
            0x0123, 0x4001,
        ]);
        let want = [1, 1, 1, 6, 6, 0, 0, 0, 0, 5, 6, 4, 0x123ABC, 0, 0, 0];
        assert_eq!(run(&c, 16).unwrap(), want);
        // Output beyond the tile is dropped; a clipped "zeros then one" writes only zeros.
        assert_eq!(run(&c, 4).unwrap(), [1, 1, 1, 6]);
        assert_eq!(run(&c, 9).unwrap(), [1, 1, 1, 6, 6, 0, 0, 0, 0]);
        assert_eq!(run(&c, 10).unwrap(), [1, 1, 1, 6, 6, 0, 0, 0, 0, 5]);
        assert!(run(&c, 0).unwrap().is_empty());
        // Words are signed: -1 is a run of 4095 zeros (C division truncates), -4096 is ignored.
        let c = ll(&[0xFFFF, 0x4001, 0xF000, 0x6001]);
        let got = run(&c, 4100).unwrap();
        assert!(got[..4095].iter().all(|&v| v == 0));
        assert_eq!(got[4095..], [1, 2, 0, 0, 0]);
        // Set-high with a negative high word.
        let c = ll(&[0x1FFF, 0x8000, 0x6000, 0x1FFF, 0x7FFF, 0x6FFF]);
        let top = (0x7FFF << 12) + 0xFFF;
        assert_eq!(run(&c, 2).unwrap(), [(-0x8000 << 12) + 0xFFF, top + 0xFFF]);
        // Increments wrap around like C's int; a list this long needs the high length word.
        let mut ops = vec![0x1FFF, 0x7FFF];
        ops.resize(600_002, 0x2FFF);
        ops.push(0x6000);
        let wrapped = (i64::from(top) + 600_000 * 0xFFF - (1 << 32)) as i32;
        assert_eq!(run(&ll(&ops), 1).unwrap(), [wrapped]);
    }

    #[test]
    fn header_variants() {
        // Old-style header: length in word 3, instructions from word 4.
        let c: Vec<u8> = [0u16, 0, 5, 0x4002, 0x6001]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        assert_eq!(run(&c, 4).unwrap(), [1, 1, 2, 0]);
        // Trailing words beyond the stated length are ignored.
        let mut c = ll(&[0x4002]);
        c.extend_from_slice(&[0x40, 0x05]);
        assert_eq!(run(&c, 3).unwrap(), [1, 1, 0]);
        // ... but may complete a set-high at the very end, as in cfitsio.
        let mut c = ll(&[0x1001]);
        c.extend_from_slice(&[0x00, 0x02]);
        assert_eq!(run(&c, 2).unwrap(), [0, 0]);
        assert!(run(&ll(&[0x1001]), 2).is_err());
        // A header length pointing past the length word leaves nothing to do.
        let mut c = ll(&[0x4002]);
        c[3] = 100;
        assert_eq!(run(&c, 2).unwrap(), [0, 0]);
        c[2..4].copy_from_slice(&(-1i16).to_be_bytes());
        assert!(run(&c, 2).is_err());
        // Lengths: longer than the data, zero, negative.
        let mut c = ll(&[0x4002]);
        c[7] = 9;
        assert!(run(&c, 2).is_err());
        for (lo, hi) in [(0u16, 0u16), (0xFFFF, 0), (8, 0xFFFF)] {
            c[6..8].copy_from_slice(&lo.to_be_bytes());
            c[8..10].copy_from_slice(&hi.to_be_bytes());
            assert!(run(&c, 2).is_err());
        }
        // Odd sizes and short headers.
        assert!(run(&ll(&[0x4002])[..15], 2).is_err());
        assert!(run(&[0, 0, 0, 7], 2).is_err());
        assert!(run(&[0, 0, 0, 7, 0xFF, 0x9C, 0, 8], 2).is_err());
        assert!(run(&[], 0).is_err());
    }

    fn streams() -> Vec<(Vec<u8>, usize)> {
        vec![
            (hex(P16_T0), 120),
            (hex(P16_T9), 120),
            (hex(P32_ROW0), 9000),
            (hex(P32_ROW1), 9000),
            (hex(P32_ROW2), 9000),
        ]
    }

    #[test]
    fn every_truncation_is_an_error() {
        for (c, n) in streams() {
            for k in 0..c.len() {
                assert!(run(&c[..k], n).is_err(), "prefix {k}");
            }
        }
    }

    #[test]
    fn rewritten_header_words_never_panic() {
        for (c, n) in streams() {
            let len = (c.len() / 2) as i16;
            for word in 0..7 {
                for v in [
                    0,
                    1,
                    2,
                    3,
                    4,
                    7,
                    8,
                    -1,
                    -100,
                    i16::MIN,
                    i16::MAX,
                    len - 1,
                    len,
                    len + 1,
                ] {
                    let mut s = c.clone();
                    s[2 * word..2 * word + 2].copy_from_slice(&v.to_be_bytes());
                    for m in [0, 1, n / 2, n, 2 * n] {
                        let _ = run(&s, m);
                    }
                }
            }
        }
    }

    #[test]
    fn random_corruption_never_panics() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for (c, n) in streams() {
            for i in 0..3000 {
                let mut s = c.clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(s.len());
                    s[at] ^= 1 << rng.below(8);
                }
                if i % 5 == 0 {
                    s.truncate(rng.below(s.len() + 1));
                }
                if i % 7 == 0 {
                    let at = rng.below(s.len().max(1));
                    if let Some(b) = s.get_mut(at) {
                        *b = rng.next() as u8;
                    }
                }
                let m = [n, 0, 1, rng.below(2 * n + 1)][i % 4];
                let _ = run(&s, m);
            }
        }
        // Random word soup behind a valid header.
        for _ in 0..3000 {
            let ops: Vec<u16> = (0..rng.below(40)).map(|_| rng.next() as u16).collect();
            let _ = run(&ll(&ops), rng.below(20_000));
        }
    }
}
