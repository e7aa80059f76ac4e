//! ARJ archives (`0x60 0xEA`), read and decoded here from the format as
//! ARJ's technical notes describe it: a main header, then one header per
//! file (each a basic header with its CRC-32, then extended headers),
//! each followed by the file's compressed bytes. Methods: 0 (stored),
//! 1–3 (LZ77 with canonical Huffman codes sent per block, the LHA-like
//! `decode` of ARJ: a 510-symbol literal/length code, a 17-symbol
//! position code, and a 19-symbol code for the literal code's lengths)
//! and 4 (`decode_f`: lengths and positions in unary-prefixed binary,
//! no Huffman coding). Members are named by the file name the header
//! stores (raw bytes) and checked against their CRC-32; a mismatch is a
//! `Corrupt` gap. Garbled (password-scrambled) files are `Encrypted`
//! gaps; files that continue in another volume of a multi-volume set are
//! `Unsupported` gaps. The decoders write into memory and stop at
//! [`Walker::cap`] bytes or at the original size the header declares,
//! whichever comes first; that size is never used to allocate.

use crate::locate::Found;
use crate::walker::Walker;
use crate::{ContainerKind, Gap};

const ID: [u8; 2] = [0x60, 0xea];
/// Largest basic header ARJ writes.
const MAX_HEADER: usize = 2600;
const FLAG_GARBLED: u8 = 0x01;
const FLAG_VOLUME: u8 = 0x04;
const FLAG_EXTFILE: u8 = 0x08;
const TYPE_MAIN: u8 = 2;
const TYPE_DIR: u8 = 3;
const TYPE_LABEL: u8 = 4;

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

/// One header (main or file).
struct Header {
    flags: u8,
    method: u8,
    file_type: u8,
    packed: u64,
    original: u64,
    crc: u32,
    name: Vec<u8>,
    /// Where the compressed data starts (right after the header).
    data_at: usize,
}

/// The header at `at`: `Ok(None)` at the end-of-archive marker.
fn header(d: &[u8], at: usize) -> Result<Option<Header>, String> {
    let bad = |what: &str| format!("header at offset {at}: {what}");
    if d.get(at..at + 2) != Some(&ID[..]) {
        return Err(bad("no header id"));
    }
    let size = usize::from(u16_at(d, at + 2).ok_or_else(|| bad("truncated"))?);
    if size == 0 {
        return Ok(None);
    }
    if !(30..=MAX_HEADER).contains(&size) {
        return Err(bad("impossible size"));
    }
    let basic = d
        .get(at + 4..at + 4 + size)
        .ok_or_else(|| bad("truncated"))?;
    if u32_at(d, at + 4 + size) != Some(crc32(basic)) {
        return Err(bad("header CRC mismatch"));
    }
    let mut next = at + 8 + size;
    // Extended headers: a size, that many bytes and a CRC, until size 0.
    loop {
        let ext = usize::from(u16_at(d, next).ok_or_else(|| bad("truncated"))?);
        next += 2;
        if ext == 0 {
            break;
        }
        next += ext + 4;
    }
    let first = usize::from(basic[0]).clamp(30, size);
    let name = basic[first..].split(|&b| b == 0).next().unwrap_or_default();
    Ok(Some(Header {
        flags: basic[4],
        method: basic[5],
        file_type: basic[6],
        packed: u32_at(basic, 12).unwrap_or(0).into(),
        original: u32_at(basic, 16).unwrap_or(0).into(),
        crc: u32_at(basic, 20).unwrap_or(0),
        name: name.to_vec(),
        data_at: next,
    }))
}

/// Recognise an ARJ archive: its main header with a matching CRC.
pub(crate) fn sniff(data: &[u8]) -> Option<Found> {
    if !data.starts_with(&ID) {
        return None;
    }
    match header(data, 0) {
        Ok(Some(h)) if h.file_type == TYPE_MAIN => Some(Found {
            kind: ContainerKind::Arj,
            offset: 0,
        }),
        _ => None,
    }
}

/// Bits read most significant first; reading past the end gives zeros
/// (as ARJ's own reader does) and counts the overrun.
pub(crate) struct Bits<'a> {
    d: &'a [u8],
    pos: usize,
    buf: u32,
    n: u32,
    over: usize,
}

impl<'a> Bits<'a> {
    pub(crate) fn new(d: &'a [u8]) -> Self {
        Bits {
            d,
            pos: 0,
            buf: 0,
            n: 0,
            over: 0,
        }
    }

    /// The next `k` (at most 16) bits.
    pub(crate) fn get(&mut self, k: u32) -> Result<u32, String> {
        while self.n < k {
            let b = match self.d.get(self.pos) {
                Some(&b) => b,
                None => {
                    self.over += 1;
                    if self.over > 4 {
                        return Err("compressed data truncated".into());
                    }
                    0
                }
            };
            self.pos += 1;
            self.buf = (self.buf << 8) | u32::from(b);
            self.n += 8;
        }
        self.n -= k;
        let v = (self.buf >> self.n) & ((1u32 << k) - 1);
        self.buf &= (1u32 << self.n) - 1;
        Ok(v)
    }

    /// The next `k` (at most 16) bits without taking them; zeros past
    /// the end of the input.
    pub(crate) fn peek(&mut self, k: u32) -> u32 {
        while self.n < k {
            let Some(&b) = self.d.get(self.pos) else {
                return (self.buf << (k - self.n)) & ((1u32 << k) - 1);
            };
            self.pos += 1;
            self.buf = (self.buf << 8) | u32::from(b);
            self.n += 8;
        }
        (self.buf >> (self.n - k)) & ((1u32 << k) - 1)
    }

    /// Input bytes taken so far.
    pub(crate) fn consumed(&self) -> usize {
        self.pos.min(self.d.len())
    }
}

/// Longest Huffman code: 16 bits in ARJ, 20 in bzip2 (NSIS uses this
/// decoder too).
const MAX_CODE: usize = 20;

/// A canonical Huffman code (codes assigned by length, then symbol), or a
/// single symbol sent with no bits.
pub(crate) struct Huff {
    counts: [u16; MAX_CODE + 1],
    symbols: Vec<u16>,
    single: Option<u16>,
    /// Codes of at most [`FAST`] bits by their first [`FAST`] bits:
    /// (symbol, length), length 0 for a longer code.
    fast: Vec<(u16, u8)>,
}

/// Bits looked up at once by [`Huff::decode`].
const FAST: u32 = 10;

impl Huff {
    pub(crate) fn single(sym: u32, n: usize) -> Result<Huff, String> {
        if sym as usize >= n {
            return Err(format!("symbol {sym} out of range"));
        }
        Ok(Huff {
            counts: [0; MAX_CODE + 1],
            symbols: Vec::new(),
            single: Some(sym as u16),
            fast: Vec::new(),
        })
    }

    /// The code of `lens` (each at most [`MAX_CODE`]; longer ones are
    /// never decoded).
    pub(crate) fn from_lengths(lens: &[u8]) -> Huff {
        let mut counts = [0u16; MAX_CODE + 1];
        for &l in lens {
            if usize::from(l) <= MAX_CODE {
                counts[usize::from(l)] += 1;
            }
        }
        counts[0] = 0;
        let mut symbols = Vec::with_capacity(lens.len());
        for len in 1..=MAX_CODE as u8 {
            symbols.extend((0..lens.len() as u16).filter(|&s| lens[usize::from(s)] == len));
        }
        let fast = fast_table(&counts, &symbols);
        Huff {
            counts,
            symbols,
            single: None,
            fast,
        }
    }

    pub(crate) fn decode(&self, b: &mut Bits<'_>) -> Result<u16, String> {
        if let Some(s) = self.single {
            return Ok(s);
        }
        if let Some(&(sym, len)) = self.fast.get(b.peek(FAST) as usize) {
            if len > 0 {
                b.get(len.into())?;
                return Ok(sym);
            }
        }
        let (mut code, mut first, mut index) = (0u32, 0u32, 0usize);
        for len in 1..=MAX_CODE {
            code |= b.get(1)?;
            let count = u32::from(self.counts[len]);
            if code.wrapping_sub(first) < count {
                let i = index + (code - first) as usize;
                return self
                    .symbols
                    .get(i)
                    .copied()
                    .ok_or_else(|| "bad code".into());
            }
            index += count as usize;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err("invalid Huffman code".into())
    }
}

/// The lookup table of the codes of at most [`FAST`] bits (a shorter
/// code wins where an over-full code would make two overlap, as in the
/// bit-by-bit decoder).
fn fast_table(counts: &[u16; MAX_CODE + 1], symbols: &[u16]) -> Vec<(u16, u8)> {
    let mut fast = vec![(0u16, 0u8); 1 << FAST];
    let (mut first, mut index) = (0u32, 0usize);
    for len in 1..=FAST {
        let count = u32::from(counts[len as usize]);
        for k in 0..count {
            let Some(&sym) = symbols.get(index + k as usize) else {
                break;
            };
            let shift = FAST - len;
            let start = ((first + k) << shift) as usize;
            for e in fast.iter_mut().skip(start).take(1 << shift) {
                if e.1 == 0 {
                    *e = (sym, len as u8);
                }
            }
        }
        index += count as usize;
        first = (first + count) << 1;
    }
    fast
}

/// Symbols of the literal/length code (256 literals, lengths 3..=256).
const NC: usize = 510;
/// Symbols of the position code.
const NP: usize = 17;
/// Symbols of the code-length code.
const NT: usize = 19;

/// A code-length or position code: `nn` symbols, a count of `nbit` bits;
/// after symbol `special` a 2-bit run of zero lengths follows.
fn read_pt(b: &mut Bits<'_>, nn: usize, nbit: u32, special: Option<usize>) -> Result<Huff, String> {
    let n = b.get(nbit)? as usize;
    if n == 0 {
        return Huff::single(b.get(nbit)?, nn);
    }
    if n > nn {
        return Err(format!("{n} code lengths for {nn} symbols"));
    }
    let mut lens = vec![0u8; nn];
    let mut i = 0;
    while i < n {
        let mut c = b.get(3)?;
        if c == 7 {
            while b.get(1)? == 1 {
                c += 1;
                if c > 16 {
                    return Err("code length above 16".into());
                }
            }
        }
        lens[i] = c as u8;
        i += 1;
        if Some(i) == special {
            for _ in 0..b.get(2)? {
                *lens.get_mut(i).ok_or("zero run past the code")? = 0;
                i += 1;
            }
        }
    }
    Ok(Huff::from_lengths(&lens))
}

/// The literal/length code, its lengths sent with the code `pt`.
fn read_c(b: &mut Bits<'_>, pt: &Huff) -> Result<Huff, String> {
    let n = b.get(9)? as usize;
    if n == 0 {
        return Huff::single(b.get(9)?, NC);
    }
    if n > NC {
        return Err(format!("{n} code lengths for {NC} symbols"));
    }
    let mut lens = vec![0u8; NC];
    let mut i = 0;
    while i < n {
        let c = pt.decode(b)?;
        if c <= 2 {
            let run = match c {
                0 => 1,
                1 => b.get(4)? + 3,
                _ => b.get(9)? + 20,
            };
            for _ in 0..run {
                *lens.get_mut(i).ok_or("zero run past the code")? = 0;
                i += 1;
            }
        } else {
            lens[i] = (c - 2) as u8;
            i += 1;
        }
    }
    Ok(Huff::from_lengths(&lens))
}

/// Append `len` bytes copied from `dist + 1` bytes back.
fn copy_back(out: &mut Vec<u8>, dist: usize, len: usize) -> Result<(), String> {
    let start = out
        .len()
        .checked_sub(dist + 1)
        .ok_or("copy from before the start")?;
    for k in 0..len {
        let b = out[start + k];
        out.push(b);
    }
    Ok(())
}

/// Methods 1–3: `want` bytes (at most), checking the clock now and then.
fn decode(input: &[u8], want: usize, out_of_time: &dyn Fn() -> bool) -> (Vec<u8>, Option<String>) {
    let mut out = Vec::new();
    let r = decode_into(input, want, out_of_time, &mut out);
    out.truncate(want);
    (out, r.err())
}

fn decode_into(
    input: &[u8],
    want: usize,
    out_of_time: &dyn Fn() -> bool,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let mut b = Bits::new(input);
    let mut left = 0u32;
    let (mut c_code, mut p_code) = (Huff::single(0, 1)?, Huff::single(0, 1)?);
    while out.len() < want {
        if left == 0 {
            if out_of_time() {
                return Err("time limit".into());
            }
            left = match b.get(16)? {
                0 => 0x10000,
                n => n,
            };
            let pt = read_pt(&mut b, NT, 5, Some(3))?;
            c_code = read_c(&mut b, &pt)?;
            p_code = read_pt(&mut b, NP, 5, None)?;
        }
        left -= 1;
        let c = c_code.decode(&mut b)?;
        if c < 256 {
            out.push(c as u8);
            continue;
        }
        let len = usize::from(c) - 253;
        let p = u32::from(p_code.decode(&mut b)?);
        let dist = if p == 0 {
            0
        } else {
            (1u32 << (p - 1)) + b.get(p - 1)?
        };
        copy_back(out, dist as usize, len)?;
    }
    Ok(())
}

/// A number sent as a unary prefix choosing a width from `start` to
/// `stop` bits (method 4).
fn unary_width(b: &mut Bits<'_>, start: u32, stop: u32) -> Result<u32, String> {
    let (mut plus, mut pwr, mut width) = (0u32, 1u32 << start, start);
    while width < stop {
        if b.get(1)? == 0 {
            break;
        }
        plus += pwr;
        pwr <<= 1;
        width += 1;
    }
    let v = if width != 0 { b.get(width)? } else { 0 };
    Ok(v + plus)
}

/// Method 4 (`decode_f`).
fn decode_fastest(
    input: &[u8],
    want: usize,
    out_of_time: &dyn Fn() -> bool,
) -> (Vec<u8>, Option<String>) {
    let mut out = Vec::new();
    let mut b = Bits::new(input);
    let mut steps = 0u32;
    let r = (|| -> Result<(), String> {
        while out.len() < want {
            steps = steps.wrapping_add(1);
            if steps.is_multiple_of(65536) && out_of_time() {
                return Err("time limit".into());
            }
            let c = unary_width(&mut b, 0, 7)?;
            if c == 0 {
                out.push(b.get(8)? as u8);
            } else {
                let dist = unary_width(&mut b, 9, 13)?;
                copy_back(&mut out, dist as usize, c as usize + 2)?;
            }
        }
        Ok(())
    })();
    out.truncate(want);
    (out, r.err())
}

impl Walker<'_, '_> {
    pub(crate) fn arj(&mut self, data: &[u8], depth: u32) {
        let main = match header(data, 0) {
            Ok(Some(h)) => h,
            _ => return self.skip(Gap::Corrupt, "arj: main header unreadable".into()),
        };
        if main.flags & FLAG_VOLUME != 0 {
            self.skip(
                Gap::Unsupported,
                "arj: one volume of a multi-volume set; files that span volumes are not scanned"
                    .into(),
            );
        }
        let mut at = main.data_at;
        // Each header moves `at` forward by at least 8 bytes.
        while !self.stopped {
            let h = match header(data, at) {
                Ok(Some(h)) => h,
                Ok(None) => return,
                Err(e) => return self.skip(Gap::Corrupt, format!("arj: {e}")),
            };
            let end = usize::try_from(h.packed)
                .ok()
                .and_then(|p| h.data_at.checked_add(p))
                .unwrap_or(usize::MAX);
            let packed = data.get(h.data_at..end.min(data.len())).unwrap_or_default();
            if h.file_type != TYPE_DIR && h.file_type != TYPE_LABEL {
                if !self.admit() {
                    return;
                }
                self.named(h.name.clone(), |w| {
                    w.arj_member(&h, packed, end > data.len(), depth)
                });
            }
            if end >= data.len() {
                return;
            }
            at = end;
        }
    }

    fn arj_member(&mut self, h: &Header, packed: &[u8], truncated: bool, depth: u32) {
        if h.flags & FLAG_GARBLED != 0 {
            return self.skip(
                Gap::Encrypted,
                "arj: file is garbled (password-protected)".into(),
            );
        }
        if h.flags & (FLAG_VOLUME | FLAG_EXTFILE) != 0 {
            return self.skip(
                Gap::Unsupported,
                "arj: file spans volumes of a multi-volume set; not scanned".into(),
            );
        }
        if h.method > 4 {
            return self.skip(
                Gap::Unsupported,
                format!("arj: method {} unknown", h.method),
            );
        }
        let cap = self.cap();
        let want = usize::try_from(h.original).unwrap_or(usize::MAX).min(cap);
        let (out, mut error) = {
            let me = &*self;
            let clock = || me.out_of_time();
            match h.method {
                0 => (packed[..packed.len().min(want)].to_vec(), None),
                1..=3 => decode(packed, want, &clock),
                4 => decode_fastest(packed, want, &clock),
                _ => decode_fastest(packed, want, &clock),
            }
        };
        if error.is_none() && (out.len() as u64) == h.original && crc32(&out) != h.crc {
            error = Some("CRC mismatch".into());
        }
        if error.is_none() && (out.len() as u64) < h.original && out.len() < cap {
            error = Some(format!("{} of {} bytes", out.len(), h.original));
        }
        if truncated && error.is_none() {
            error = Some("archive truncated inside this file".into());
        }
        self.decoded(
            out,
            packed.len() as u64,
            error.map(|e| format!("arj: {e}")),
            depth,
            "arj member",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_msb_first_and_overrun() {
        let mut b = Bits::new(&[0b1010_0000, 0xff]);
        assert_eq!(b.get(3).unwrap(), 0b101);
        assert_eq!(b.get(9).unwrap(), 0b0_0000_1111);
        assert_eq!(b.get(4).unwrap(), 0xf);
        // A few bytes of zeros past the end (ARJ reads ahead), then an error.
        assert_eq!(b.get(16).unwrap(), 0);
        assert!((0..3).any(|_| b.get(16).is_err()));
    }

    #[test]
    fn canonical_codes() {
        // Lengths 1,2,3,3: codes 0, 10, 110, 111.
        let h = Huff::from_lengths(&[1, 2, 3, 3]);
        let mut b = Bits::new(&[0b0101_1011, 0b1000_0000]);
        let got: Vec<u16> = (0..4).map(|_| h.decode(&mut b).unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 3]);
    }

    #[test]
    fn fastest_literals_and_copy() {
        // Literal 'a' (0 + 8 bits), literal 'b', then length 1+2 = 3 copy
        // (1, 0 bits -> width 1: value 0, so c = 0 + 1 = 1) at distance 1.
        let mut bits = String::new();
        for c in [b'a', b'b'] {
            bits.push('0');
            bits.push_str(&format!("{c:08b}"));
        }
        bits.push_str("10"); // unary: width 1
        bits.push('0'); // value 0 -> c = 1
        bits.push('0'); // position: width 9
        bits.push_str("000000001"); // distance 1 -> two back
        while !bits.len().is_multiple_of(8) {
            bits.push('0');
        }
        let bytes: Vec<u8> = bits
            .as_bytes()
            .chunks(8)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap())
            .collect();
        let (out, err) = decode_fastest(&bytes, 5, &|| false);
        assert_eq!(err, None);
        assert_eq!(out, b"ababa");
    }
}
