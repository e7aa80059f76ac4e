//! What `kensa rules check` reports: the given rule files read and compiled
//! for a report only, with each file's errors and warnings and the totals.
//! Nothing is cached and nothing is printed here (`output::rules` prints).

use super::{check_prepared, prepare, sources_for, Issue, RulesError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One rule or hash-list file and what compiling it found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    pub path: PathBuf,
    /// False when the file has at least one error (and was left out).
    pub compiled: bool,
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
}

/// The whole report: one [`FileReport`] per file, in the order the files
/// were read (files only named by an issue last), and the totals.
#[derive(Clone, Debug)]
pub struct Report {
    pub files: Vec<FileReport>,
    /// Rules and hashes loaded from the files that compiled.
    pub rules: usize,
    pub hashes: usize,
}

impl Report {
    /// Files that failed to compile.
    pub fn failed(&self) -> usize {
        self.files.iter().filter(|f| !f.compiled).count()
    }
}

/// Reads and compiles the rule files or directories at `paths` (absolute)
/// for a report; fails only when a source cannot be read at all.
pub fn check(paths: &[PathBuf]) -> Result<Report, RulesError> {
    let prep = prepare(&sources_for(paths))?;
    let report = check_prepared(&prep);
    let mut order: Vec<PathBuf> = prep.files().map(Path::to_path_buf).collect();
    for i in &report.issues {
        if !order.contains(&i.file) {
            order.push(i.file.clone());
        }
    }
    let mut by_file: BTreeMap<PathBuf, FileReport> = order
        .iter()
        .map(|f| {
            let r = FileReport {
                path: f.clone(),
                compiled: true,
                errors: Vec::new(),
                warnings: Vec::new(),
            };
            (f.clone(), r)
        })
        .collect();
    for i in report.issues {
        if let Some(r) = by_file.get_mut(&i.file) {
            if i.warning {
                r.warnings.push(i);
            } else {
                r.compiled = false;
                r.errors.push(i);
            }
        }
    }
    Ok(Report {
        files: order.iter().filter_map(|f| by_file.remove(f)).collect(),
        rules: report.rules,
        hashes: report.hashes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_file_has_its_own_errors_in_reading_order() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("a.yar");
        let bad = dir.path().join("b.yar");
        std::fs::write(&good, "rule a { condition: true }").unwrap();
        std::fs::write(&bad, "rule b { condition: nope }").unwrap();
        let report = check(&[bad.clone(), good.clone()]).unwrap();
        let paths: Vec<&Path> = report.files.iter().map(|f| f.path.as_path()).collect();
        assert_eq!(paths, vec![bad.as_path(), good.as_path()]);
        assert_eq!(report.failed(), 1);
        assert!(!report.files[0].compiled && !report.files[0].errors.is_empty());
        assert!(report.files[1].compiled && report.files[1].errors.is_empty());
        assert_eq!(report.rules, 1);
    }
}
