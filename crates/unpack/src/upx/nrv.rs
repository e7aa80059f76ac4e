//! The NRV2B, NRV2D and NRV2E decoders UPX uses (the UCL algorithms),
//! written here from the algorithm's description: a bit stream read most
//! significant bit first from little-endian words (32-bit for the `LE32`
//! methods UPX uses on PE and ELF, 16-bit or single bytes for the others)
//! interleaved with whole bytes. A `1` bit is a literal byte; a `0` starts
//! a match whose offset high part and length are Elias-gamma-like codes and
//! whose offset low byte is a plain byte; one offset code repeats the last
//! offset, and offset `0xffffffff` ends the stream. Long-distance matches
//! (above 0xd00 for 2B, 0x500 for 2D/2E) are one byte longer.
//!
//! The output is capped by the caller (the walker's `cap()`), never by a
//! size read from the file; every code is bounded (a gamma code longer than
//! 32 bits is an error) and every read is bounds-checked.

use std::fmt;

/// Which of the three NRV algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Variant {
    B,
    D,
    E,
}

/// The word the bit buffer is refilled with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Word {
    Le32,
    Byte,
    Le16,
}

impl Word {
    fn bytes(self) -> usize {
        match self {
            Word::Le32 => 4,
            Word::Le16 => 2,
            Word::Byte => 1,
        }
    }
}

/// Why a stream did not decode to its end marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NrvError {
    /// The input ended before the end marker.
    InputOverrun,
    /// A match reaches before the start of the output.
    BadOffset,
    /// A gamma code longer than any valid one.
    BadCode,
    /// The caller's time limit passed.
    Time,
}

impl fmt::Display for NrvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NrvError::InputOverrun => "compressed data ends before its end marker",
            NrvError::BadOffset => "a match points before the start of the output",
            NrvError::BadCode => "an over-long length or offset code",
            NrvError::Time => "time limit reached",
        })
    }
}

/// What decoding produced: the output (at most `cap` bytes), the input
/// bytes consumed, and why it stopped early (`None`: the end marker, or
/// the cap was reached - then `out.len() == cap`).
pub(crate) struct Decoded {
    pub out: Vec<u8>,
    pub consumed: usize,
    pub error: Option<NrvError>,
}

/// Largest offset code (24 bits of high part plus the 3 reserved codes).
const MAX_OFFSET_CODE: u32 = 0x00ff_ffff + 3;
/// Largest length code accepted.
const MAX_LENGTH_CODE: u32 = 0x7fff_ffff;
/// The output is checked against the caller's clock every this many bytes.
const CLOCK_EVERY: usize = 1 << 20;

struct Bits<'a> {
    src: &'a [u8],
    pos: usize,
    word: Word,
    bb: u32,
    bc: u32,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<u32, NrvError> {
        if self.bc == 0 {
            let n = self.word.bytes();
            let end = self.pos.checked_add(n).ok_or(NrvError::InputOverrun)?;
            let w = self.src.get(self.pos..end).ok_or(NrvError::InputOverrun)?;
            self.bb = w.iter().rev().fold(0u32, |a, &b| (a << 8) | u32::from(b));
            self.pos = end;
            self.bc = (n * 8) as u32;
        }
        self.bc -= 1;
        Ok((self.bb >> self.bc) & 1)
    }

    fn byte(&mut self) -> Result<u8, NrvError> {
        let b = *self.src.get(self.pos).ok_or(NrvError::InputOverrun)?;
        self.pos += 1;
        Ok(b)
    }

    /// `1` followed by pairs (data bit, stop bit) until a stop bit is 1.
    fn gamma(&mut self, max: u32) -> Result<u32, NrvError> {
        let mut v = 1u32;
        loop {
            v = v * 2 + self.bit()?;
            if self.bit()? == 1 {
                return Ok(v);
            }
            if v > max {
                return Err(NrvError::BadCode);
            }
        }
    }

    /// The 2D/2E offset code: after each 0 stop bit, one more data bit
    /// counted from `v - 1`.
    fn gamma_de(&mut self) -> Result<u32, NrvError> {
        let mut v = 1u32;
        loop {
            v = v * 2 + self.bit()?;
            if self.bit()? == 1 {
                return Ok(v);
            }
            v = (v - 1) * 2 + self.bit()?;
            if v > MAX_OFFSET_CODE {
                return Err(NrvError::BadCode);
            }
        }
    }
}

/// Decode `src` with `variant`/`word` into at most `cap` bytes; `late`
/// tells whether the caller's time limit passed (checked every MiB).
pub(crate) fn decompress(
    src: &[u8],
    variant: Variant,
    word: Word,
    cap: usize,
    late: &dyn Fn() -> bool,
) -> Decoded {
    let mut bits = Bits {
        src,
        pos: 0,
        word,
        bb: 0,
        bc: 0,
    };
    let mut out = Vec::with_capacity(cap.min(src.len().saturating_mul(4)));
    let error = run(&mut bits, variant, &mut out, cap, late).err();
    Decoded {
        out,
        consumed: bits.pos,
        error,
    }
}

/// The decoding loop; `Ok` at the end marker or at the cap.
fn run(
    bits: &mut Bits<'_>,
    variant: Variant,
    out: &mut Vec<u8>,
    cap: usize,
    late: &dyn Fn() -> bool,
) -> Result<(), NrvError> {
    let mut last_off = 1u32;
    let mut next_clock = CLOCK_EVERY;
    loop {
        if out.len() >= next_clock {
            if late() {
                return Err(NrvError::Time);
            }
            next_clock = out.len().saturating_add(CLOCK_EVERY);
        }
        while bits.bit()? == 1 {
            if out.len() >= cap {
                return Ok(());
            }
            out.push(bits.byte()?);
        }
        let Some((off, len)) = match_code(bits, variant, &mut last_off)? else {
            return Ok(());
        };
        let off = off as usize;
        if off == 0 || off > out.len() {
            return Err(NrvError::BadOffset);
        }
        let len = (len as usize).min(cap.saturating_sub(out.len()));
        copy_match(out, off, len);
        if out.len() >= cap {
            return Ok(());
        }
    }
}

/// Read one match: `(offset, bytes to copy)`, or `None` at the end marker.
fn match_code(
    bits: &mut Bits<'_>,
    variant: Variant,
    last_off: &mut u32,
) -> Result<Option<(u32, u32)>, NrvError> {
    let code = match variant {
        Variant::B => bits.gamma(MAX_OFFSET_CODE)?,
        Variant::D | Variant::E => bits.gamma_de()?,
    };
    if code > MAX_OFFSET_CODE {
        return Err(NrvError::BadCode);
    }
    let len;
    let off;
    if code == 2 {
        off = *last_off;
        len = if variant == Variant::B {
            0
        } else {
            bits.bit()?
        };
    } else {
        let raw = ((code - 3) << 8) | u32::from(bits.byte()?);
        if raw == u32::MAX {
            return Ok(None);
        }
        if variant == Variant::B {
            off = raw + 1;
            len = 0;
        } else {
            len = (raw & 1) ^ 1;
            off = (raw >> 1) + 1;
        }
        *last_off = off;
    }
    let (len, far) = length_code(bits, variant, len)?;
    let len = len + u32::from(off > far) + 1;
    Ok(Some((off, len)))
}

/// The rest of a match's length code, given its first bit (`hi`; always
/// 0 for 2B): the length code and the offset above which matches are one
/// byte longer.
fn length_code(bits: &mut Bits<'_>, variant: Variant, hi: u32) -> Result<(u32, u32), NrvError> {
    Ok(match variant {
        Variant::B | Variant::D => {
            let mut len = hi * 2 + bits.bit()?;
            if variant == Variant::B {
                len = len * 2 + bits.bit()?;
            }
            if len == 0 {
                len = bits.gamma(MAX_LENGTH_CODE)? + 2;
            }
            (len, if variant == Variant::B { 0xd00 } else { 0x500 })
        }
        Variant::E => {
            let len = if hi == 1 {
                1 + bits.bit()?
            } else if bits.bit()? == 1 {
                3 + bits.bit()?
            } else {
                bits.gamma(MAX_LENGTH_CODE)? + 3
            };
            (len, 0x500)
        }
    })
}

/// Append `len` bytes copied from `off` bytes back (overlapping copies
/// repeat the pattern, as LZ77 requires).
fn copy_match(out: &mut Vec<u8>, off: usize, len: usize) {
    let start = out.len() - off;
    if off >= len {
        out.extend_from_within(start..start + len);
    } else {
        out.reserve(len);
        for i in 0..len {
            let b = out[start + i];
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upx::writer::nrv::nrv_encode;

    /// Every variant and word size round-trips through our encoder, on
    /// text, on runs (long overlapping matches) and on far matches.
    #[test]
    fn round_trip_with_the_test_encoder() {
        let mut data = Vec::new();
        for i in 0..3000u32 {
            data.extend_from_slice(format!("line {i} of some text {}\n", i % 17).as_bytes());
        }
        data.extend(std::iter::repeat_n(0u8, 70_000));
        let far: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        data.extend_from_slice(&far);
        data.extend_from_slice(&far);
        data.extend_from_slice(b"a");
        for (v, tag) in [(Variant::B, b'B'), (Variant::D, b'D'), (Variant::E, b'E')] {
            for (w, n) in [(Word::Le32, 4), (Word::Le16, 2), (Word::Byte, 1)] {
                let packed = nrv_encode(&data, tag, n);
                assert!(packed.len() < data.len() / 2, "{v:?} {w:?} compresses");
                let d = decompress(&packed, v, w, 1 << 24, &never);
                assert_eq!(d.error, None, "{v:?} {w:?}");
                assert_eq!(d.consumed, packed.len(), "{v:?} {w:?}");
                assert!(d.out == data, "{v:?} {w:?} round trip");
            }
        }
        let empty = nrv_encode(b"", b'E', 4);
        assert_eq!(
            decompress(&empty, Variant::E, Word::Le32, 10, &never).out,
            b""
        );
    }

    fn never() -> bool {
        false
    }

    /// UCL's own 16-byte test streams (as UPX's self-test carries them),
    /// in the byte-wise flavour: each decodes to sixteen 0xff bytes, and
    /// one byte less of input is an overrun.
    #[test]
    fn ucl_reference_vectors() {
        let cases: [(&[u8], Variant); 3] = [
            (b"\x92\xff\x10\x00\x00\x00\x00\x00\x48\xff", Variant::B),
            (b"\x92\xff\x10\x92\x49\x24\x92\xa0\xff", Variant::D),
            (b"\x90\xff\xb0\x92\x49\x24\x92\xa0\xff", Variant::E),
        ];
        let mut outs = Vec::new();
        for (src, v) in cases {
            let d = decompress(src, v, Word::Byte, 1 << 20, &never);
            assert_eq!(d.error, None, "{v:?}");
            assert_eq!(d.out.len(), 16, "{v:?}");
            assert_eq!(d.consumed, src.len(), "{v:?}");
            let short = decompress(&src[..src.len() - 1], v, Word::Byte, 1 << 20, &never);
            assert_eq!(short.error, Some(NrvError::InputOverrun), "{v:?}");
            outs.push(d.out);
        }
        assert!(outs.iter().all(|o| o == &outs[0]));
        assert_eq!(outs[0], [0xff; 16]);
    }

    #[test]
    fn cap_stops_output() {
        let src = b"\x92\xff\x10\x00\x00\x00\x00\x00\x48\xff";
        let d = decompress(src, Variant::B, Word::Byte, 5, &never);
        assert_eq!(d.error, None);
        assert_eq!(d.out.len(), 5);
    }

    #[test]
    fn hostile_streams_end_in_errors() {
        // A match before any output.
        let d = decompress(&[0, 0, 0, 0, 0], Variant::B, Word::Le32, 100, &never);
        assert!(d.error.is_some());
        // All ones: literals until the input runs out.
        let d = decompress(&[0xff; 64], Variant::E, Word::Le32, 100, &never);
        assert!(d.error.is_some() || d.out.len() == 100);
        // All zero bits: an endless gamma code is refused.
        let d = decompress(&[0u8; 4096], Variant::D, Word::Le32, 100, &never);
        assert!(d.error.is_some());
        for n in 0..64u8 {
            let src: Vec<u8> = (0..200u16).map(|i| (i as u8).wrapping_mul(n | 1)).collect();
            for v in [Variant::B, Variant::D, Variant::E] {
                for w in [Word::Le32, Word::Le16, Word::Byte] {
                    let d = decompress(&src, v, w, 10_000, &never);
                    assert!(d.out.len() <= 10_000 && d.consumed <= src.len());
                }
            }
        }
    }
}
