//! PKWARE "implode" (zip method 6, PKZIP 1.x), decoded here from APPNOTE
//! section 5.3 (no maintained crate decodes it, and the `zip` crate's
//! `legacy-zip` decoder is not enabled). The data is an LZ77 stream over a
//! 4 KiB or 8 KiB window (general-purpose flag bit 1) with two or three
//! Shannon-Fano trees (flag bit 2: a literal tree; without it literals are
//! 8 raw bits), bits read least significant first. The trees are sent as
//! run-length coded bit lengths; the codes they define are canonical
//! Huffman codes with every bit inverted, which is how they are decoded
//! here. The stream has no end marker: it ends at the declared
//! uncompressed size, and decoding never produces more than the caller's
//! cap whatever that size says.

/// Why decoding stopped early.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ExplodeError {
    /// The compressed data ended before the declared size was produced.
    Truncated,
    /// A tree description that does not describe a code.
    BadTree,
    /// A bit sequence no code has.
    BadCode,
}

impl std::fmt::Display for ExplodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ExplodeError::Truncated => "implode data ends early",
            ExplodeError::BadTree => "implode: invalid Shannon-Fano tree",
            ExplodeError::BadCode => "implode: invalid code",
        })
    }
}

const MAX_BITS: usize = 16;

/// LSB-first bit reader over a byte slice.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u32,
    left: u32,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<u32, ExplodeError> {
        if self.left == 0 {
            let b = *self.data.get(self.pos).ok_or(ExplodeError::Truncated)?;
            self.pos += 1;
            self.buf = u32::from(b);
            self.left = 8;
        }
        let v = self.buf & 1;
        self.buf >>= 1;
        self.left -= 1;
        Ok(v)
    }

    fn bits(&mut self, n: u32) -> Result<u32, ExplodeError> {
        let mut v = 0;
        for i in 0..n {
            v |= self.bit()? << i;
        }
        Ok(v)
    }
}

/// A decoding table: how many codes of each length, and the symbols in
/// canonical order (by length, then by value).
struct Tree {
    count: [u16; MAX_BITS + 1],
    symbols: Vec<u16>,
}

impl Tree {
    /// Read a tree of `n` symbols: a byte holding the number of bytes that
    /// follow minus one, each byte a run of (count-1 << 4 | length-1).
    fn read(bits: &mut Bits<'_>, n: usize) -> Result<Tree, ExplodeError> {
        let bytes = bits.bits(8)? + 1;
        let mut lengths = Vec::with_capacity(n);
        for _ in 0..bytes {
            let b = bits.bits(8)?;
            let (len, run) = ((b & 15) + 1, (b >> 4) + 1);
            for _ in 0..run {
                if lengths.len() == n {
                    return Err(ExplodeError::BadTree);
                }
                lengths.push(len as usize);
            }
        }
        if lengths.len() != n {
            return Err(ExplodeError::BadTree);
        }
        Tree::from_lengths(&lengths)
    }

    fn from_lengths(lengths: &[usize]) -> Result<Tree, ExplodeError> {
        let mut count = [0u16; MAX_BITS + 1];
        for &l in lengths {
            count[l] += 1;
        }
        // No length may be over-subscribed.
        let mut room: i32 = 1;
        for &c in &count[1..] {
            room = room * 2 - i32::from(c);
            if room < 0 {
                return Err(ExplodeError::BadTree);
            }
        }
        let mut symbols = Vec::with_capacity(lengths.len());
        for len in 1..=MAX_BITS {
            symbols.extend((0..lengths.len() as u16).filter(|&s| lengths[usize::from(s)] == len));
        }
        Ok(Tree { count, symbols })
    }

    /// Decode one symbol: the canonical code is built from the inverted bits.
    fn decode(&self, bits: &mut Bits<'_>) -> Result<u16, ExplodeError> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..=MAX_BITS {
            code |= (bits.bit()? ^ 1) as i32;
            let count = i32::from(self.count[len]);
            if code - first < count {
                let at =
                    usize::try_from(index + code - first).map_err(|_| ExplodeError::BadCode)?;
                return self.symbols.get(at).copied().ok_or(ExplodeError::BadCode);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(ExplodeError::BadCode)
    }
}

/// Explode `input` (general-purpose `flags`) until `size` bytes or `cap`
/// bytes (whichever is smaller) are produced. Returns what was produced
/// and, when it stopped early, why.
pub(crate) fn explode(
    input: &[u8],
    flags: u16,
    size: u64,
    cap: usize,
) -> (Vec<u8>, Option<ExplodeError>) {
    let mut out = Vec::new();
    let want = usize::try_from(size).unwrap_or(usize::MAX).min(cap);
    let err = run(input, flags, want, &mut out).err();
    (out, err)
}

fn run(input: &[u8], flags: u16, want: usize, out: &mut Vec<u8>) -> Result<(), ExplodeError> {
    let mut bits = Bits {
        data: input,
        pos: 0,
        buf: 0,
        left: 0,
    };
    let big_window = flags & 2 != 0;
    let literals = if flags & 4 != 0 {
        Some(Tree::read(&mut bits, 256)?)
    } else {
        None
    };
    let lengths = Tree::read(&mut bits, 64)?;
    let distances = Tree::read(&mut bits, 64)?;
    let low_bits = if big_window { 7 } else { 6 };
    let min_match = if literals.is_some() { 3 } else { 2 };
    while out.len() < want {
        if bits.bit()? == 1 {
            let byte = match &literals {
                Some(t) => t.decode(&mut bits)? as u8,
                None => bits.bits(8)? as u8,
            };
            out.push(byte);
            continue;
        }
        let low = bits.bits(low_bits)? as usize;
        let high = usize::from(distances.decode(&mut bits)?);
        let distance = ((high << low_bits) | low) + 1;
        let mut len = usize::from(lengths.decode(&mut bits)?);
        if len == 63 {
            len += bits.bits(8)? as usize;
        }
        len += min_match;
        // Bytes before the start of the output read as zeros.
        for _ in 0..len.min(want - out.len()) {
            let b = out.len().checked_sub(distance).map_or(0, |i| out[i]);
            out.push(b);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An LSB-first bit writer (the test's encoder side).
    #[derive(Default)]
    struct Writer {
        out: Vec<u8>,
        acc: u32,
        n: u32,
    }

    impl Writer {
        fn put(&mut self, value: u32, bits: u32) {
            for i in 0..bits {
                self.acc |= ((value >> i) & 1) << self.n;
                self.n += 1;
                if self.n == 8 {
                    self.out.push(self.acc as u8);
                    self.acc = 0;
                    self.n = 0;
                }
            }
        }
        /// A Shannon-Fano code: its first bit is its most significant.
        fn code(&mut self, (code, len): (u32, u32)) {
            for i in (0..len).rev() {
                self.put((code >> i) & 1, 1);
            }
        }
        fn finish(mut self) -> Vec<u8> {
            if self.n > 0 {
                self.out.push(self.acc as u8);
            }
            self.out
        }
    }

    /// The codes of APPNOTE 5.3.7, computed exactly as the note says:
    /// sort by bit length (stable), walk from the longest, add an
    /// increment of 1 << (16 - length). Independent of the decoder's
    /// canonical construction.
    fn appnote_codes(lengths: &[u32]) -> Vec<(u32, u32)> {
        let mut order: Vec<usize> = (0..lengths.len()).collect();
        order.sort_by_key(|&i| lengths[i]);
        let mut codes = vec![(0, 0); lengths.len()];
        let (mut code, mut inc, mut last) = (0u32, 0u32, 0u32);
        for &i in order.iter().rev() {
            code += inc;
            if lengths[i] != last {
                last = lengths[i];
                inc = 1 << (16 - last);
            }
            codes[i] = (code >> (16 - lengths[i]), lengths[i]);
        }
        codes
    }

    /// Write a tree's bit lengths in the run-length form.
    fn put_tree(w: &mut Writer, lengths: &[u32]) {
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for &l in lengths {
            match runs.last_mut() {
                Some((len, n)) if *len == l && *n < 16 => *n += 1,
                _ => runs.push((l, 1)),
            }
        }
        w.put(runs.len() as u32 - 1, 8);
        for (len, n) in runs {
            w.put(((n - 1) << 4) | (len - 1), 8);
        }
    }

    /// Bit lengths from (length, how many) runs. The codes must be
    /// complete (Kraft sum exactly 1), as every imploder writes them.
    fn lengths(runs: &[(u32, usize)]) -> Vec<u32> {
        runs.iter()
            .flat_map(|&(l, n)| std::iter::repeat_n(l, n))
            .collect()
    }

    /// "ABCABCABCABC!" with three trees and an 8 KiB window: literals
    /// A, B, C, then a match of 9 at distance 3, then literal `!`.
    #[test]
    fn three_trees_literals_and_a_match() {
        let lit = lengths(&[(8, 256)]);
        // 2/4 + 2/8 + 4/128 + 56/256 = 1
        let len = lengths(&[(2, 2), (3, 2), (7, 4), (8, 56)]);
        // 1/2 + 1/64 + 62/128 = 1
        let dist = lengths(&[(1, 1), (6, 1), (7, 62)]);
        let (lc, nc, dc) = (
            appnote_codes(&lit),
            appnote_codes(&len),
            appnote_codes(&dist),
        );
        let mut w = Writer::default();
        put_tree(&mut w, &lit);
        put_tree(&mut w, &len);
        put_tree(&mut w, &dist);
        for &b in b"ABC" {
            w.put(1, 1);
            w.code(lc[usize::from(b)]);
        }
        // Match: distance 3 => stored 2: low 7 bits 2, high 0; length 9 => 9-3 = 6.
        w.put(0, 1);
        w.put(2, 7);
        w.code(dc[0]);
        w.code(nc[6]);
        w.put(1, 1);
        w.code(lc[usize::from(b'!')]);
        let data = w.finish();
        let (out, err) = explode(&data, 0b110, 13, 1 << 20);
        assert_eq!(err, None);
        assert_eq!(out, b"ABCABCABCABC!");
        // The declared size bounds the output, so does the cap.
        assert_eq!(explode(&data, 0b110, 5, 1 << 20).0, b"ABCAB");
        assert_eq!(explode(&data, 0b110, 13, 4).0, b"ABCA");
        // Truncated input.
        let (part, err) = explode(&data[..data.len() - 2], 0b110, 13, 1 << 20);
        assert_eq!(err, Some(ExplodeError::Truncated));
        assert!(b"ABCABCABCABC!".starts_with(&part));
    }

    /// Two trees (raw literals), 4 KiB window, a long match (length code
    /// 63 plus an extra byte) reaching before the start (zeros).
    #[test]
    fn two_trees_long_match() {
        let len = lengths(&[(1, 1), (6, 1), (7, 62)]);
        let dist = lengths(&[(6, 64)]);
        let (nc, dc) = (appnote_codes(&len), appnote_codes(&dist));
        let mut w = Writer::default();
        put_tree(&mut w, &len);
        put_tree(&mut w, &dist);
        w.put(1, 1);
        w.put(u32::from(b'x'), 8);
        // Distance 1, length 63 + 10 + 2 = 75.
        w.put(0, 1);
        w.put(0, 6);
        w.code(dc[0]);
        w.code(nc[63]);
        w.put(10, 8);
        // Distance 4000 before the start: zeros, length 0 + 2.
        w.put(0, 1);
        w.put(3999 & 63, 6);
        w.code(dc[3999 >> 6]);
        w.code(nc[0]);
        let data = w.finish();
        let (out, err) = explode(&data, 0, 78, 1 << 20);
        assert_eq!(err, None);
        let mut want = vec![b'x'; 76];
        want.extend_from_slice(&[0, 0]);
        assert_eq!(out, want);
    }

    #[test]
    fn hostile_trees_are_errors() {
        // Over-subscribed: 64 codes of length 1.
        let mut w = Writer::default();
        put_tree(&mut w, &[1; 64]);
        put_tree(&mut w, &[6; 64]);
        assert_eq!(
            explode(&w.finish(), 0, 10, 100).1,
            Some(ExplodeError::BadTree)
        );
        // Too many symbols for the tree.
        let mut w = Writer::default();
        w.put(255, 8);
        for _ in 0..256 {
            w.put(0xf5, 8);
        }
        assert_eq!(
            explode(&w.finish(), 0, 10, 100).1,
            Some(ExplodeError::BadTree)
        );
        assert_eq!(explode(&[], 0, 10, 100).1, Some(ExplodeError::Truncated));
    }
}
