//! The `packed` fact of the file being scanned and of its members: the
//! packer [`archive::identify_packer`] recognises in the bytes (`upx`,
//! `aspack`, ...), or `upx` for `$upx`, the image unpacked from a UPX
//! file. Set as the YARA external `packed` and carried by the finding and
//! skip records of that file or member. Skips come after the member they
//! concern, so the packers of the chain last visited are kept: index 0 the
//! top-level file, index `i` the member `chain[..i]`.

use crate::engine::archive;

/// The pseudo-member name of a UPX file's unpacked image.
const UPX_IMAGE: &str = "$upx";

#[derive(Default)]
pub(super) struct Packed {
    /// Packers along `chain` (one more entry than `chain` has names).
    stack: Vec<Option<&'static str>>,
    chain: Vec<String>,
}

impl Packed {
    /// The packer of `data`, the member `chain` (empty: the top-level
    /// file), remembered for the records that follow.
    pub(super) fn note(&mut self, chain: &[String], data: &[u8]) -> Option<&'static str> {
        let p = archive::identify_packer(data).or_else(|| unpacked_from(chain));
        let n = chain.len();
        let same = self
            .chain
            .iter()
            .zip(chain)
            .take_while(|(a, b)| a == b)
            .count();
        self.chain.truncate(same);
        self.chain.extend(chain[same..].iter().cloned());
        self.stack.resize(n, None);
        self.stack.push(p);
        p
    }

    /// The packer noted for `chain` when it is on the chain last visited
    /// (else `upx` for a `$upx` whose image could not be read at all).
    pub(super) fn of(&self, chain: &[String]) -> Option<String> {
        let n = chain.len();
        let noted = match self.chain.get(..n) == Some(chain) {
            true => self.stack.get(n).copied().flatten(),
            false => unpacked_from(chain),
        };
        noted.map(String::from)
    }

    /// The packer last noted (the bytes being scanned now).
    pub(super) fn current(&self) -> Option<&'static str> {
        self.stack.last().copied().flatten()
    }

    /// Forget everything (the top-level file is done).
    pub(super) fn clear(&mut self) {
        self.stack.clear();
        self.chain.clear();
    }
}

/// `upx` for the member `$upx`, the image unpacked from a UPX file.
fn unpacked_from(chain: &[String]) -> Option<&'static str> {
    (chain.last().map(String::as_str) == Some(UPX_IMAGE)).then_some("upx")
}
