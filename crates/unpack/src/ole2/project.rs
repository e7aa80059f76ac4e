//! The VBA projects of a compound file, walked: every storage holding a
//! `dir` stream (`Macros/VBA` in Word, `_VBA_PROJECT_CUR/VBA` in Excel,
//! `VBA` in an OOXML `vbaProject.bin`) has its module list read (module
//! `vba`) and each module's source decompressed into a member
//! `$vba/<module name>`.

use super::{vba, Doc, Entry};
use crate::walker::Walker;
use crate::Gap;

/// Largest decompressed `dir` stream (real ones are a few KiB).
const DIR_MAX: usize = 16 << 20;

impl Walker<'_, '_> {
    /// Every VBA project in `doc`.
    pub(super) fn ole2_projects(&mut self, doc: &mut Doc<'_>, depth: u32) {
        let dirs: Vec<Vec<String>> = doc
            .entries
            .iter()
            .filter(|e| e.stream && e.name().eq_ignore_ascii_case("dir"))
            .map(|e| e.path.clone())
            .collect();
        for dir in dirs {
            if self.stopped || self.out_of_time() {
                return;
            }
            self.ole2_project(doc, &dir, depth);
        }
    }

    /// The project whose `dir` stream is at `dir`.
    fn ole2_project(&mut self, doc: &mut Doc<'_>, dir: &[String], depth: u32) {
        let at = dir.join("/");
        let raw = match doc.raw(dir, u64::MAX) {
            Ok(r) => r,
            Err(e) => return self.ole2_side_error(dir, e),
        };
        let cap = DIR_MAX.min(usize::try_from(doc.side_budget).unwrap_or(usize::MAX));
        let (text, err) = vba::decompress(&raw, cap);
        doc.side_budget = doc.side_budget.saturating_sub(text.len() as u64);
        if let Some(e) = err {
            self.skip(Gap::Corrupt, format!("vba project {at}: dir stream: {e}"));
        }
        let (modules, err) = vba::modules(&text);
        if let Some(e) = err {
            self.skip(Gap::Corrupt, format!("vba project {at}: dir stream: {e}"));
        }
        let storage = dir.split_last().map(|(_, p)| p).unwrap_or_default();
        for m in modules {
            if self.stopped || !self.admit() {
                return;
            }
            let mut name = b"$vba/".to_vec();
            name.extend(m.display_name());
            self.named(name, |w| w.ole2_module(doc, storage, &m, depth));
        }
    }

    /// One module's source: its stream from the module's text offset on,
    /// decompressed up to the member cap.
    fn ole2_module(&mut self, doc: &mut Doc<'_>, storage: &[String], m: &vba::Module, depth: u32) {
        let want = m.stream_name();
        let Some(path) = doc
            .find(storage, &want)
            .filter(|e| e.stream)
            .map(|e: &Entry| e.path.clone())
        else {
            return self.skip(
                Gap::Corrupt,
                format!("vba module stream {want:?} not in the project"),
            );
        };
        let raw = match doc.raw(&path, u64::MAX) {
            Ok(r) => r,
            Err(e) => return self.ole2_side_error(&path, e),
        };
        let Some(src) = usize::try_from(m.offset).ok().and_then(|o| raw.get(o..)) else {
            return self.skip(
                Gap::Corrupt,
                format!("vba module: source offset {} past the stream", m.offset),
            );
        };
        let (out, err) = vba::decompress(src, self.cap());
        let err = err.map(|e| e.to_string());
        self.decoded(out, src.len() as u64, err, depth, "vba module");
    }
}
