//! PDF stream filters as streaming `Read` adapters, so a chain such as
//! `[/ASCIIHexDecode /FlateDecode]` is pulled through the walker's limits
//! 64 KiB at a time and a Flate bomb stops at the first limit. FlateDecode
//! goes through `flate2` (zlib-rs backend, already kensa's inflater),
//! taking a raw deflate stream when the zlib header is missing or wrong;
//! LZWDecode through `weezl` (MSB-first, 8-bit, `EarlyChange` 1 or 0; the
//! LZW decoder of the `image` crates, fuzzed there). ASCIIHexDecode,
//! ASCII85Decode, RunLengthDecode and the PNG (10-15) and TIFF (2)
//! predictors are written here. Every codec works on bounded buffers: it
//! never allocates by a size read from the file (a predictor row is at
//! most [`MAX_ROW`] bytes).

use std::io::{self, Read};

use super::lexer::{hex_val, is_white, Obj};

/// Longest predictor row accepted (Columns × Colors × BitsPerComponent / 8).
pub(crate) const MAX_ROW: usize = 1 << 20;
/// Bytes a codec produces per call at most (then the reader hands them on).
const OUT_STEP: usize = 64 * 1024;
const IN_STEP: usize = 8 * 1024;

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// One decoding step: take `input` (all of it unless `out` reached
/// [`OUT_STEP`]), append output; `eof` says no more input will come.
/// Returns (bytes consumed, finished).
pub(crate) trait Codec {
    fn feed(&mut self, input: &[u8], eof: bool, out: &mut Vec<u8>) -> io::Result<(usize, bool)>;
}

/// A `Read` that runs a [`Codec`] over another `Read`.
pub(crate) struct Filtered<'a, C> {
    inner: Box<dyn Read + 'a>,
    codec: C,
    inbuf: Vec<u8>,
    in_pos: usize,
    eof: bool,
    pending: Vec<u8>,
    out_pos: usize,
    done: bool,
}

impl<'a, C: Codec> Filtered<'a, C> {
    pub(crate) fn new(inner: Box<dyn Read + 'a>, codec: C) -> Self {
        Filtered {
            inner,
            codec,
            inbuf: Vec::new(),
            in_pos: 0,
            eof: false,
            pending: Vec::new(),
            out_pos: 0,
            done: false,
        }
    }

    fn refill(&mut self) -> io::Result<()> {
        self.inbuf.clear();
        self.in_pos = 0;
        self.inbuf.resize(IN_STEP, 0);
        let n = loop {
            match self.inner.read(&mut self.inbuf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.inbuf.clear();
                    return Err(e);
                }
            }
        };
        self.inbuf.truncate(n);
        self.eof = n == 0;
        Ok(())
    }
}

impl<C: Codec> Read for Filtered<'_, C> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_pos < self.pending.len() {
                let n = buf.len().min(self.pending.len() - self.out_pos);
                buf[..n].copy_from_slice(&self.pending[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            self.pending.clear();
            self.out_pos = 0;
            if self.in_pos >= self.inbuf.len() && !self.eof {
                self.refill()?;
            }
            let input = self.inbuf.get(self.in_pos..).unwrap_or_default();
            let had_input = !input.is_empty();
            let (used, fin) = self.codec.feed(input, self.eof, &mut self.pending)?;
            self.in_pos += used;
            if used == 0 && self.pending.is_empty() && !fin && had_input {
                return Err(bad("filter made no progress"));
            }
            // Input all taken and none to come: the stream ends here.
            if fin || (self.eof && self.in_pos >= self.inbuf.len() && self.pending.is_empty()) {
                self.done = true;
            }
        }
    }
}

/// ASCIIHexDecode: hex digit pairs, white space ignored, `>` ends.
#[derive(Default)]
pub(crate) struct AsciiHex {
    high: Option<u8>,
}

impl Codec for AsciiHex {
    fn feed(&mut self, input: &[u8], eof: bool, out: &mut Vec<u8>) -> io::Result<(usize, bool)> {
        for (i, &b) in input.iter().enumerate() {
            if b == b'>' {
                if let Some(h) = self.high.take() {
                    out.push(h << 4);
                }
                return Ok((i + 1, true));
            }
            if is_white(b) {
                continue;
            }
            let v = hex_val(b).ok_or_else(|| bad(format!("ASCIIHexDecode: byte {b:#04x}")))?;
            match self.high.take() {
                Some(h) => out.push(h << 4 | v),
                None => self.high = Some(v),
            }
        }
        if eof {
            if let Some(h) = self.high.take() {
                out.push(h << 4);
            }
        }
        Ok((input.len(), eof))
    }
}

/// ASCII85Decode: groups of five `!`..`u`, `z` for four zeros, `~>` ends.
#[derive(Default)]
pub(crate) struct Ascii85 {
    group: [u8; 5],
    n: usize,
}

impl Ascii85 {
    fn flush(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if self.n == 1 {
            return Err(bad("ASCII85Decode: a final group of one character"));
        }
        if self.n == 0 {
            return Ok(());
        }
        let keep = self.n - 1;
        for i in self.n..5 {
            self.group[i] = b'u' - b'!';
        }
        let v = self.group.iter().fold(0u64, |v, &d| v * 85 + u64::from(d));
        let v = u32::try_from(v).map_err(|_| bad("ASCII85Decode: group overflows"))?;
        out.extend_from_slice(&v.to_be_bytes()[..keep]);
        self.n = 0;
        Ok(())
    }
}

impl Codec for Ascii85 {
    fn feed(&mut self, input: &[u8], eof: bool, out: &mut Vec<u8>) -> io::Result<(usize, bool)> {
        for (i, &b) in input.iter().enumerate() {
            match b {
                b'~' => {
                    self.flush(out)?;
                    // Step over the `>` too when it is here.
                    let used = if input.get(i + 1) == Some(&b'>') {
                        i + 2
                    } else {
                        i + 1
                    };
                    return Ok((used, true));
                }
                b'z' if self.n == 0 => out.extend_from_slice(&[0; 4]),
                b'!'..=b'u' => {
                    self.group[self.n] = b - b'!';
                    self.n += 1;
                    if self.n == 5 {
                        self.flush_full(out)?;
                    }
                }
                b if is_white(b) => {}
                b => return Err(bad(format!("ASCII85Decode: byte {b:#04x}"))),
            }
        }
        if eof {
            self.flush(out)?;
        }
        Ok((input.len(), eof))
    }
}

impl Ascii85 {
    fn flush_full(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let v = self.group.iter().fold(0u64, |v, &d| v * 85 + u64::from(d));
        let v = u32::try_from(v).map_err(|_| bad("ASCII85Decode: group overflows"))?;
        out.extend_from_slice(&v.to_be_bytes());
        self.n = 0;
        Ok(())
    }
}

/// RunLengthDecode: a length byte, then 1-128 literal bytes or one byte
/// repeated 2-128 times; 128 ends.
#[derive(Default)]
pub(crate) struct RunLength {
    /// Literal bytes still to copy.
    literal: usize,
    /// A repeat count waiting for its byte.
    repeat: Option<usize>,
}

impl Codec for RunLength {
    fn feed(&mut self, input: &[u8], eof: bool, out: &mut Vec<u8>) -> io::Result<(usize, bool)> {
        let mut i = 0;
        while i < input.len() && out.len() < OUT_STEP {
            if self.literal > 0 {
                let n = self.literal.min(input.len() - i);
                out.extend_from_slice(&input[i..i + n]);
                self.literal -= n;
                i += n;
                continue;
            }
            let b = input[i];
            i += 1;
            if let Some(count) = self.repeat.take() {
                out.resize(out.len() + count, b);
                continue;
            }
            match b {
                128 => return Ok((i, true)),
                0..=127 => self.literal = usize::from(b) + 1,
                _ => self.repeat = Some(257 - usize::from(b)),
            }
        }
        Ok((i, eof && i == input.len()))
    }
}

/// LZWDecode through weezl.
pub(crate) struct Lzw(pub(crate) weezl::decode::Decoder);

impl Lzw {
    pub(crate) fn new(early_change: bool) -> Self {
        let d = if early_change {
            weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
        } else {
            weezl::decode::Decoder::new(weezl::BitOrder::Msb, 8)
        };
        Lzw(d)
    }
}

impl Codec for Lzw {
    fn feed(&mut self, input: &[u8], eof: bool, out: &mut Vec<u8>) -> io::Result<(usize, bool)> {
        let start = out.len();
        out.resize(start + OUT_STEP, 0);
        let r = self.0.decode_bytes(input, &mut out[start..]);
        out.truncate(start + r.consumed_out);
        match r.status {
            Ok(weezl::LzwStatus::Done) => Ok((r.consumed_in, true)),
            // No end code before the data ends: keep what was decoded.
            Ok(weezl::LzwStatus::NoProgress) => Ok((r.consumed_in, eof)),
            Ok(weezl::LzwStatus::Ok) => Ok((r.consumed_in, false)),
            Err(e) => Err(bad(format!("LZWDecode: {e}"))),
        }
    }
}

/// The predictor a `/DecodeParms` dictionary names.
pub(crate) struct Predictor {
    png: bool,
    /// Bytes per pixel (at least 1) and per row.
    bpp: usize,
    row: usize,
    bpc: usize,
    colors: usize,
    prev: Vec<u8>,
    cur: Vec<u8>,
    /// PNG: the current row's filter type byte has been read.
    tag: Option<u8>,
}

impl Predictor {
    /// None when the parameters ask for no prediction.
    pub(crate) fn from_parms(parms: Option<&Obj>) -> io::Result<Option<Predictor>> {
        let get = |k: &[u8], default: i64| match parms.and_then(|p| p.get(k)) {
            Some(Obj::Int(v)) => *v,
            _ => default,
        };
        let predictor = get(b"Predictor", 1);
        if predictor < 2 {
            return Ok(None);
        }
        let (colors, bpc, columns) = (
            get(b"Colors", 1),
            get(b"BitsPerComponent", 8),
            get(b"Columns", 1),
        );
        let ok = (1..=32).contains(&colors) && [1, 2, 4, 8, 16].contains(&bpc) && columns >= 1;
        // Multiplied only once the small factors are known to be small.
        let bits = ok.then(|| (colors * bpc).checked_mul(columns)).flatten();
        let row = bits
            .map(|b| (b + 7) / 8)
            .and_then(|r| usize::try_from(r).ok())
            .filter(|&r| r <= MAX_ROW)
            .ok_or_else(|| bad("predictor parameters out of range"))?;
        let png = predictor >= 10;
        if !png && (predictor != 2 || (bpc != 8 && bpc != 16)) {
            return Err(bad(format!(
                "predictor {predictor} with {bpc} bits per component is not supported"
            )));
        }
        Ok(Some(Predictor {
            png,
            bpp: usize::try_from((colors * bpc + 7) / 8).unwrap_or(1).max(1),
            row,
            bpc: bpc as usize,
            colors: colors as usize,
            prev: vec![0; row],
            cur: Vec::with_capacity(row),
            tag: None,
        }))
    }

    /// Undo the prediction of the full row in `cur` into `out`.
    fn finish_row(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if self.png {
            let tag = self.tag.take().unwrap_or(0);
            png_row(tag, &mut self.cur, &self.prev, self.bpp)?;
        } else {
            tiff_row(&mut self.cur, self.colors, self.bpc);
        }
        out.extend_from_slice(&self.cur);
        std::mem::swap(&mut self.prev, &mut self.cur);
        self.cur.clear();
        Ok(())
    }
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

fn png_row(tag: u8, cur: &mut [u8], prev: &[u8], bpp: usize) -> io::Result<()> {
    for i in 0..cur.len() {
        let a = if i >= bpp { cur[i - bpp] } else { 0 };
        let b = prev.get(i).copied().unwrap_or(0);
        let c = if i >= bpp {
            prev.get(i - bpp).copied().unwrap_or(0)
        } else {
            0
        };
        let add = match tag {
            0 => 0,
            1 => a,
            2 => b,
            3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
            4 => paeth(a, b, c),
            t => return Err(bad(format!("PNG predictor: row filter {t}"))),
        };
        cur[i] = cur[i].wrapping_add(add);
    }
    Ok(())
}

fn tiff_row(cur: &mut [u8], colors: usize, bpc: usize) {
    if bpc == 8 {
        for i in colors..cur.len() {
            cur[i] = cur[i].wrapping_add(cur[i - colors]);
        }
        return;
    }
    let step = colors * 2;
    let mut i = step;
    while i + 1 < cur.len() {
        let left = u16::from_be_bytes([cur[i - step], cur[i - step + 1]]);
        let v = u16::from_be_bytes([cur[i], cur[i + 1]]).wrapping_add(left);
        cur[i..i + 2].copy_from_slice(&v.to_be_bytes());
        i += 2;
    }
}

impl Codec for Predictor {
    fn feed(&mut self, input: &[u8], eof: bool, out: &mut Vec<u8>) -> io::Result<(usize, bool)> {
        let mut i = 0;
        while i < input.len() && out.len() < OUT_STEP {
            if self.png && self.tag.is_none() {
                self.tag = Some(input[i]);
                i += 1;
                continue;
            }
            let n = (self.row - self.cur.len()).min(input.len() - i);
            self.cur.extend_from_slice(&input[i..i + n]);
            i += n;
            if self.cur.len() == self.row {
                self.finish_row(out)?;
            }
        }
        if eof && i == input.len() && !self.cur.is_empty() {
            // A short last row: decoded as far as it goes.
            let len = self.cur.len();
            self.cur.resize(self.row, 0);
            self.finish_row(out)?;
            out.truncate(out.len() - (self.row - len));
        }
        Ok((i, eof && i == input.len()))
    }
}

/// A Flate reader: zlib when the two header bytes say so, raw deflate
/// otherwise (some writers omit or damage the header).
pub(crate) fn flate<'a>(mut inner: Box<dyn Read + 'a>) -> io::Result<Box<dyn Read + 'a>> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match inner.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let zlib = got == 2
        && head[0] & 0x0f == 8
        && head[0] >> 4 <= 7
        && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
    let rest = io::Cursor::new(head[..got].to_vec()).chain(inner);
    Ok(if zlib {
        Box::new(flate2::read::ZlibDecoder::new(rest))
    } else {
        Box::new(flate2::read::DeflateDecoder::new(rest))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<C: Codec>(codec: C, input: &[u8]) -> io::Result<Vec<u8>> {
        // One byte at a time from below: state must carry across calls.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        Filtered::new(Box::new(Trickle(input)), codec).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn ascii_hex() {
        assert_eq!(
            run(AsciiHex::default(), b"48 65 6c\n6C6f>junk").unwrap(),
            b"Hello"
        );
        assert_eq!(run(AsciiHex::default(), b"414").unwrap(), b"A@");
        assert!(run(AsciiHex::default(), b"4g").is_err());
    }

    #[test]
    fn ascii85() {
        // "Man " and "sure" from the Adobe reference.
        assert_eq!(
            run(Ascii85::default(), b"9jqo^F*2M7~>").unwrap(),
            b"Man sure"
        );
        assert_eq!(
            run(Ascii85::default(), b"z 9jqo^~>").unwrap(),
            b"\0\0\0\0Man "
        );
        assert_eq!(run(Ascii85::default(), b"F*2M7!!").unwrap(), b"sure\0");
        assert!(run(Ascii85::default(), b"uuuuu~>").is_err());
    }

    #[test]
    fn run_length() {
        assert_eq!(
            run(RunLength::default(), b"\x02abc\xfdz\x80trailing").unwrap(),
            b"abczzzz"
        );
        assert_eq!(run(RunLength::default(), b"").unwrap(), b"");
    }

    #[test]
    fn lzw_early_change() {
        // The example from the PDF reference (7.4.4.2): 45 45 45 45 45 65 45 45 45 66.
        let enc = [0x80, 0x0b, 0x60, 0x50, 0x22, 0x0c, 0x0c, 0x85, 0x01];
        assert_eq!(
            run(Lzw::new(true), &enc).unwrap(),
            [45, 45, 45, 45, 45, 65, 45, 45, 45, 66]
        );
    }

    #[test]
    fn png_predictors() {
        let parms = super::super::lexer::Lexer::new(b"<</Predictor 12 /Columns 3>>", 0).value();
        let p = Predictor::from_parms(parms.as_ref()).unwrap().unwrap();
        // Up filter: row 2 adds row 1.
        assert_eq!(
            run(p, b"\x02\x01\x02\x03\x02\x01\x01\x01").unwrap(),
            [1, 2, 3, 2, 3, 4]
        );
        let parms =
            super::super::lexer::Lexer::new(b"<</Predictor 2 /Colors 1 /Columns 4>>", 0).value();
        let p = Predictor::from_parms(parms.as_ref()).unwrap().unwrap();
        assert_eq!(run(p, &[1, 1, 1, 1]).unwrap(), [1, 2, 3, 4]);
        let huge =
            super::super::lexer::Lexer::new(b"<</Predictor 12 /Columns 999999999 /Colors 32>>", 0)
                .value();
        assert!(Predictor::from_parms(huge.as_ref()).is_err());
        let mixed: Vec<u8> = (0..5u8).flat_map(|t| [t, 10, 20, 30]).collect();
        let parms = super::super::lexer::Lexer::new(b"<</Predictor 15 /Columns 3>>", 0).value();
        let p = Predictor::from_parms(parms.as_ref()).unwrap().unwrap();
        assert_eq!(run(p, &mixed).unwrap().len(), 15);
    }
}
