//! NSIS's bzip2 variant, decoded here from the bzip2 format: NSIS strips
//! the stream magic (`BZh9`), the block magic after its first byte
//! (`0x31`), the randomisation bit and every CRC, and ends the stream with
//! a `0x17` byte. What remains is ordinary bzip2: a 24-bit BWT origin, the
//! used-byte bitmap, 2–6 Huffman tables (delta-coded lengths, at most 20
//! bits) chosen per 50 symbols by move-to-front coded selectors, the
//! RUNA/RUNB zero-run and move-to-front stage, the inverse BWT and the
//! initial run-length stage (four equal bytes then a repeat count). A
//! block holds at most 900 000 symbols; output comes out through `Read`,
//! one block at a time, so limits are checked as it is produced.

use std::cell::Cell;
use std::io::{self, Read};

use crate::arj::{Bits, Huff};

/// Largest block (bzip2 level 9, which NSIS uses).
const BLOCK_MAX: usize = 900_000;
const GROUP: usize = 50;
const RUNA: u16 = 0;
const RUNB: u16 = 1;

/// A decoded block being emitted: inverse-BWT links and the run state.
struct Out {
    tt: Vec<u32>,
    pos: u32,
    left: usize,
    last: Option<u8>,
    run: u8,
    pending: u32,
}

pub(crate) struct NsisBzip2<'a> {
    bits: Bits<'a>,
    out: Option<Out>,
    consumed: &'a Cell<u64>,
    done: bool,
    failed: Option<String>,
}

impl<'a> NsisBzip2<'a> {
    pub(crate) fn new(data: &'a [u8], consumed: &'a Cell<u64>) -> Self {
        NsisBzip2 {
            bits: Bits::new(data),
            out: None,
            consumed,
            done: false,
            failed: None,
        }
    }

    /// Read the next block (`None` at the end marker).
    fn block(&mut self) -> Result<Option<Out>, String> {
        let b = &mut self.bits;
        match b.get(8)? {
            0x17 => return Ok(None),
            0x31 => {}
            x => return Err(format!("bzip2 block starts with {x:#x}")),
        }
        let orig = (b.get(8)? << 16) | b.get(16)?;
        let used = used_bytes(b)?;
        let tables = tables(b, used.len() + 2)?;
        let block = symbols(b, &used, &tables)?;
        if orig as usize >= block.len() {
            return Err("bzip2 origin pointer outside the block".into());
        }
        self.consumed.set(b.consumed() as u64);
        Ok(Some(inverse_bwt(&block, orig)))
    }
}

/// The bytes the block uses, in order.
fn used_bytes(b: &mut Bits<'_>) -> Result<Vec<u8>, String> {
    let ranges = b.get(16)?;
    let mut used = Vec::new();
    for i in 0..16u32 {
        if ranges >> (15 - i) & 1 == 1 {
            let bits = b.get(16)?;
            for j in 0..16u32 {
                if bits >> (15 - j) & 1 == 1 {
                    used.push((i * 16 + j) as u8);
                }
            }
        }
    }
    if used.is_empty() {
        return Err("bzip2 block uses no byte".into());
    }
    Ok(used)
}

/// The Huffman tables and, for each group of 50 symbols, the table used.
struct Tables {
    codes: Vec<Huff>,
    selectors: Vec<u8>,
}

fn tables(b: &mut Bits<'_>, alpha: usize) -> Result<Tables, String> {
    let groups = b.get(3)? as usize;
    let count = b.get(15)? as usize;
    if !(2..=6).contains(&groups) || count == 0 {
        return Err("bzip2 table counts out of range".into());
    }
    let mut order: Vec<u8> = (0..groups as u8).collect();
    let mut selectors = Vec::with_capacity(count);
    for _ in 0..count {
        let mut j = 0usize;
        while b.get(1)? == 1 {
            j += 1;
            if j >= groups {
                return Err("bzip2 selector out of range".into());
            }
        }
        let t = order.remove(j);
        order.insert(0, t);
        selectors.push(t);
    }
    let mut codes = Vec::with_capacity(groups);
    for _ in 0..groups {
        let mut len = b.get(5)?;
        let mut lens = Vec::with_capacity(alpha);
        for _ in 0..alpha {
            loop {
                if !(1..=20).contains(&len) {
                    return Err("bzip2 code length out of range".into());
                }
                if b.get(1)? == 0 {
                    break;
                }
                if b.get(1)? == 0 {
                    len += 1;
                } else {
                    len -= 1;
                }
            }
            lens.push(len as u8);
        }
        codes.push(Huff::from_lengths(&lens));
    }
    Ok(Tables { codes, selectors })
}

/// The block's bytes before the inverse BWT (zero runs and move-to-front
/// undone).
fn symbols(b: &mut Bits<'_>, used: &[u8], t: &Tables) -> Result<Vec<u8>, String> {
    let eob = used.len() as u16 + 1;
    let mut mtf: Vec<u8> = (0..used.len()).map(|i| i as u8).collect();
    let mut block = Vec::new();
    let (mut decoded, mut run, mut weight) = (0usize, 0usize, 1usize);
    loop {
        let table = t
            .selectors
            .get(decoded / GROUP)
            .ok_or("bzip2 ran out of selectors")?;
        decoded += 1;
        let sym = t.codes[usize::from(*table)].decode(b)?;
        if sym == RUNA || sym == RUNB {
            run += weight * usize::from(sym + 1);
            weight <<= 1;
            if run > BLOCK_MAX {
                return Err("bzip2 run past the block size".into());
            }
            continue;
        }
        if run > 0 {
            if block.len() + run > BLOCK_MAX {
                return Err("bzip2 block too large".into());
            }
            block.resize(block.len() + run, used[usize::from(mtf[0])]);
            (run, weight) = (0, 1);
        }
        if sym == eob {
            return Ok(block);
        }
        let k = usize::from(sym - 1);
        if k >= mtf.len() || block.len() >= BLOCK_MAX {
            return Err("bzip2 symbol out of range".into());
        }
        let v = mtf.remove(k);
        mtf.insert(0, v);
        block.push(used[usize::from(v)]);
    }
}

/// Links for walking the BWT backwards from `orig`.
fn inverse_bwt(block: &[u8], orig: u32) -> Out {
    let mut start = [0u32; 256];
    for &c in block {
        start[usize::from(c)] += 1;
    }
    let mut sum = 0;
    for s in start.iter_mut() {
        (*s, sum) = (sum, sum + *s);
    }
    let mut tt: Vec<u32> = block.iter().map(|&c| u32::from(c)).collect();
    for (i, &c) in block.iter().enumerate() {
        let at = &mut start[usize::from(c)];
        tt[*at as usize] |= (i as u32) << 8;
        *at += 1;
    }
    let pos = tt[orig as usize] >> 8;
    Out {
        tt,
        pos,
        left: block.len(),
        last: None,
        run: 0,
        pending: 0,
    }
}

impl Out {
    /// The next output byte of this block, if any.
    fn next(&mut self) -> Option<u8> {
        loop {
            if self.pending > 0 {
                self.pending -= 1;
                return self.last;
            }
            if self.left == 0 {
                return None;
            }
            self.left -= 1;
            let link = *self.tt.get(self.pos as usize)?;
            let c = link as u8;
            self.pos = link >> 8;
            if self.run == 4 {
                self.pending = u32::from(c);
                self.run = 0;
                continue;
            }
            self.run = if self.last == Some(c) {
                self.run + 1
            } else {
                1
            };
            self.last = Some(c);
            return Some(c);
        }
    }
}

impl Read for NsisBzip2<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            if let Some(c) = self.out.as_mut().and_then(Out::next) {
                buf[n] = c;
                n += 1;
                continue;
            }
            if n > 0 || self.done {
                break;
            }
            if let Some(e) = &self.failed {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e.clone()));
            }
            match self.block() {
                Ok(Some(out)) => self.out = Some(out),
                Ok(None) => self.done = true,
                Err(e) => self.failed = Some(e),
            }
        }
        Ok(n)
    }
}
