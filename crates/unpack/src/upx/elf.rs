//! UPX on ELF (linux/i386, linux/amd64 and the other ELF targets): after
//! the packed file's own ELF and program headers come `l_info` (checksum,
//! `UPX!`, loader size, version, format: 12 bytes) and `p_info` (program
//! id, original file size, block size: 12 bytes), then `b_info` blocks
//! (unpacked size, packed size, method, filter id, filter parameter,
//! unused: 12 bytes) each followed by its packed bytes - stored when both
//! sizes are equal - until a block of unpacked size 0. The last four bytes
//! of the file give the offset just past `l_info`; the first 4 KiB are
//! searched when they do not. Blocks are decoded in order and concatenated
//! (the original ELF header, then each `PT_LOAD`). The adler32 sums of the
//! blocks are not checked (their chaining across blocks could not be
//! checked against real output); the exact sizes and each stream's end
//! marker are.

use super::{u16_at, u32_at, Method, Piece, MAGIC};
use crate::walker::Walker;

/// How far into the file `l_info` is looked for.
const HEADER_WINDOW: usize = 4096;
const L_INFO: usize = 12;
const P_INFO: usize = 12;
const B_INFO: usize = 12;
/// Most blocks read (a program has a few `PT_LOAD`s; big ones are split
/// into blocks of `p_blocksize`, typically 512 KiB or more).
const MAX_BLOCKS: usize = 4096;

/// The offset of the first `b_info` of a UPX ELF, if `data` is one.
pub(crate) fn find_linfo(data: &[u8]) -> Option<usize> {
    if !data.starts_with(b"\x7fELF") {
        return None;
    }
    let trailer = data
        .len()
        .checked_sub(4)
        .and_then(|t| u32_at(data, t))
        .and_then(|o| usize::try_from(o).ok())
        .and_then(|o| o.checked_sub(L_INFO));
    if let Some(l) = trailer.filter(|&l| plausible(data, l)) {
        return Some(l + L_INFO + P_INFO);
    }
    let window = data.get(..data.len().min(HEADER_WINDOW))?;
    window
        .windows(MAGIC.len())
        .enumerate()
        .filter(|(i, w)| w == MAGIC && *i >= 4)
        .map(|(i, _)| i - 4)
        .find(|&l| plausible(data, l))
        .map(|l| l + L_INFO + P_INFO)
}

/// `l_info` at `l`: the magic, a loader size, and a first `b_info`
/// whose sizes make sense (packed no larger than unpacked, both non-zero;
/// a method UPX has unless the block is stored).
fn plausible(data: &[u8], l: usize) -> bool {
    let b = l + L_INFO + P_INFO;
    data.get(l + 4..l + 8) == Some(MAGIC)
        && u16_at(data, l + 8).is_some_and(|s| s > 0)
        && match (u32_at(data, b), u32_at(data, b + 4), data.get(b + 8)) {
            (Some(unc), Some(cpr), Some(&m)) => {
                unc > 0 && cpr > 0 && cpr <= unc && (cpr == unc || (2..=16).contains(&m))
            }
            _ => false,
        }
}

impl Walker<'_, '_> {
    /// Unpack a UPX ELF; `None` after reporting why not.
    pub(crate) fn upx_elf(&mut self, data: &[u8]) -> Option<Piece> {
        let mut at = find_linfo(data)?;
        let mut out: Vec<u8> = Vec::new();
        for _ in 0..MAX_BLOCKS {
            let head = (u32_at(data, at), u32_at(data, at + 4), data.get(at + 8));
            let (Some(unc), Some(cpr), Some(&method)) = head else {
                return Some(broken(out, "file truncated inside a b_info header"));
            };
            if unc == 0 {
                return Some(Piece { out, error: None });
            }
            let (unc, cpr) = (unc as usize, cpr as usize);
            let from = at + B_INFO;
            let Some(src) = data.get(from..from.saturating_add(cpr)) else {
                let have = data.len().saturating_sub(from);
                let msg = format!("file truncated: block of {cpr} packed bytes, {have} present");
                let src = data.get(from..).unwrap_or_default();
                return Some(self.elf_last_block(out, src, method, unc, msg));
            };
            let cap = self.cap().saturating_sub(out.len());
            let piece = if cpr == unc {
                Piece {
                    out: src.get(..cap.min(src.len())).unwrap_or_default().to_vec(),
                    error: None,
                }
            } else if let Some(m) = Method::from_id(method) {
                self.upx_decode(src, m, unc, cap)
            } else {
                let name = super::method_name(method);
                self.upx_unsupported("elf", format!("a block uses {name}, not decoded here"));
                return (!out.is_empty()).then(|| broken(out, "blocks after it not unpacked"));
            };
            let done = piece.out.len() >= cap;
            out.extend_from_slice(&piece.out);
            if let Some(e) = piece.error {
                return Some(broken(out, &e));
            }
            if done {
                return Some(Piece { out, error: None });
            }
            at = from + cpr;
        }
        Some(broken(out, "more b_info blocks than kensa reads"))
    }

    /// The block a truncated file cut: what of it decodes, then the error.
    fn elf_last_block(
        &self,
        mut out: Vec<u8>,
        src: &[u8],
        method: u8,
        unc: usize,
        msg: String,
    ) -> Piece {
        if let Some(m) = Method::from_id(method) {
            let cap = self.cap().saturating_sub(out.len());
            out.extend_from_slice(&self.upx_decode(src, m, unc, cap).out);
        }
        broken(out, &msg)
    }
}

fn broken(out: Vec<u8>, why: &str) -> Piece {
    Piece {
        out,
        error: Some(why.to_string()),
    }
}
