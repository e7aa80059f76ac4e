//! An NRV2B/NRV2D/NRV2E encoder (greedy, hash-chain matcher) for tests:
//! the inverse of `kensa-unpack`'s `upx/nrv.rs` decoder, from the same
//! description of the format. A submodule of the UPX sample writer
//! `tests/support/upx.rs`, which the crate's unit tests also include.

use std::collections::HashMap;

/// `b'B'`, `b'D'` or `b'E'`; `word` is 4 (LE32), 2 (LE16) or 1 (bytes).
pub fn nrv_encode(data: &[u8], variant: u8, word: usize) -> Vec<u8> {
    let mut w = BitWriter {
        out: Vec::new(),
        word,
        pos: 0,
        bc: 0,
        bb: 0,
    };
    let far = if variant == b'B' { 0xd00 } else { 0x500 };
    let mut last_off = 1usize;
    let mut heads: HashMap<[u8; 3], Vec<usize>> = HashMap::new();
    let mut i = 0;
    while i < data.len() {
        let (off, len) = best_match(data, i, &heads, far);
        let step = if len >= 3 {
            w.bit(0);
            encode_match(&mut w, variant, off, len, &mut last_off, far);
            len
        } else {
            w.bit(1);
            w.out.push(data[i]);
            1
        };
        for p in i..i + step {
            if let Some(k) = data.get(p..p + 3) {
                let v = heads.entry([k[0], k[1], k[2]]).or_default();
                v.push(p);
                if v.len() > 16 {
                    v.remove(0);
                }
            }
        }
        i += step;
    }
    // End marker: offset code 0x1000002, low byte 0xff.
    w.bit(0);
    match variant {
        b'B' => w.gamma(0x100_0002),
        _ => w.gamma_de(0x100_0002),
    }
    w.out.push(0xff);
    w.out
}

fn best_match(
    data: &[u8],
    i: usize,
    heads: &HashMap<[u8; 3], Vec<usize>>,
    far: usize,
) -> (usize, usize) {
    let Some(k) = data.get(i..i + 3) else {
        return (0, 0);
    };
    let mut best = (0, 0);
    for &p in heads.get(&[k[0], k[1], k[2]]).into_iter().flatten() {
        let off = i - p;
        if off > 0x8_0000 {
            continue;
        }
        let len = (0..0x1_0000.min(data.len() - i))
            .take_while(|&j| data[p + j] == data[i + j])
            .count();
        let len = if off > far && len < 4 { 0 } else { len };
        if len > best.1 {
            best = (off, len);
        }
    }
    best
}

fn encode_match(
    w: &mut BitWriter,
    variant: u8,
    off: usize,
    count: usize,
    last_off: &mut usize,
    far: usize,
) {
    let code_len = (count - 1 - usize::from(off > far)) as u32;
    let repeat = off == *last_off;
    *last_off = off;
    match variant {
        b'B' => {
            if repeat {
                w.gamma(2);
            } else {
                let raw = (off - 1) as u32;
                w.gamma((raw >> 8) + 3);
                w.out.push(raw as u8);
            }
            if code_len < 4 {
                w.bit(code_len >> 1);
                w.bit(code_len & 1);
            } else {
                w.bit(0);
                w.bit(0);
                w.gamma(code_len - 2);
            }
        }
        _ => {
            // First length bit travels with the offset.
            let hi = match (variant, code_len) {
                (b'D', 1..=3) => code_len >> 1,
                (b'E', 1..=2) => 1,
                _ => 0,
            };
            if repeat {
                w.gamma_de(2);
                w.bit(hi);
            } else {
                let raw = (((off - 1) as u32) << 1) | (hi ^ 1);
                w.gamma_de((raw >> 8) + 3);
                w.out.push(raw as u8);
            }
            match (variant, hi) {
                (b'D', _) if code_len <= 3 => w.bit(code_len & 1),
                (b'D', _) => {
                    w.bit(0);
                    w.gamma(code_len - 2);
                }
                (_, 1) => w.bit(code_len - 1),
                _ if code_len <= 4 => {
                    w.bit(1);
                    w.bit(code_len - 3);
                }
                _ => {
                    w.bit(0);
                    w.gamma(code_len - 3);
                }
            }
        }
    }
}

struct BitWriter {
    out: Vec<u8>,
    word: usize,
    pos: usize,
    bc: u32,
    bb: u32,
}

impl BitWriter {
    fn bit(&mut self, b: u32) {
        if self.bc == 0 {
            self.pos = self.out.len();
            self.out.extend(std::iter::repeat_n(0, self.word));
            self.bc = (self.word * 8) as u32;
            self.bb = 0;
        }
        self.bc -= 1;
        self.bb |= (b & 1) << self.bc;
        let bytes = self.bb.to_le_bytes();
        self.out[self.pos..self.pos + self.word].copy_from_slice(&bytes[..self.word]);
    }

    /// `v >= 2`: its bits after the leading 1, each followed by a stop bit.
    fn gamma(&mut self, v: u32) {
        let n = 31 - v.leading_zeros();
        for k in (0..n).rev() {
            self.bit((v >> k) & 1);
            self.bit(u32::from(k == 0));
        }
    }

    /// The 2D/2E offset code: rounds `v -> 4v + 2a - 2 + b`, then a final
    /// `v -> 2v + a`.
    fn gamma_de(&mut self, t: u32) {
        let mut rounds = Vec::new();
        let mut v = t >> 1;
        while v > 1 {
            rounds.push((v + 2) & 3);
            v = (v + 2) >> 2;
        }
        for low in rounds.into_iter().rev() {
            self.bit(low >> 1);
            self.bit(0);
            self.bit(low & 1);
        }
        self.bit(t & 1);
        self.bit(1);
    }
}
