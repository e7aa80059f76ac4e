//! Rule sets: finding the bundled `signatures/`, reading YARA sources and hash
//! lists, and compiling them with yara-x. Each source (the bundled set, each
//! `--rules` file or directory) compiles in its own namespace; inside a
//! directory, files are added in dependency order so a rule may use a rule
//! from another file of the same set. A file that fails to compile is
//! reported with file, line and message and left out; the rest still loads.
//! Reading (`prepare`, which yields the digest) and compiling
//! (`compile_prepared`) are separate steps so that `cache` can skip the
//! compilation when nothing changed; `check` builds the per-file report of
//! `kensa rules check`; `pack` owns signed offline rule packs.

pub mod active;
pub mod cache;
pub mod check;
pub mod hashlist;
pub mod pack;

use crate::engine::pathfmt;
use crate::findings::RulesetInfo;
use hashlist::HashList;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

pub use hashlist::HashEntry;

/// External variables defined for every rule set, as used by widely shared
/// public rule sets (Loki, THOR, signature-base). Set for every scanned file.
/// `attributes` is kensa's own: the attributes of a file read in user
/// space from a volume or, on Windows, of any file, space-separated
/// (`"hidden system"`; `""` for a plain file or a file of a walk on
/// Linux). `packed` too: the packer an
/// executable was packed with (`"upx"`, `"aspack"`, ...; `""` for none).
pub const EXTERNALS: &[&str] = &[
    "filename",
    "filepath",
    "extension",
    "filetype",
    "owner",
    "attributes",
    "packed",
];

/// Largest rule or hash-list file read (rule files from media are untrusted).
pub const MAX_SOURCE_FILE: u64 = 16 * 1024 * 1024;

/// Most files read from one rule directory.
pub const MAX_SOURCE_FILES: usize = 20_000;

/// Where the installed package keeps the bundled signatures.
pub const INSTALLED_SIGNATURES: &str = "/usr/share/kensa/signatures";

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rule source {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rule source {path} is neither a file nor a directory")]
    NotFileOrDir { path: PathBuf },
    #[error("{path} holds more than {MAX_SOURCE_FILES} files")]
    TooManyFiles { path: PathBuf },
    #[error("{count} rule file(s) failed to compile (strict mode); first: {first}")]
    Strict { count: usize, first: String },
    #[error("no rules and no hashes were loaded from {sources}")]
    Empty { sources: String },
    #[error(
        "no bundled signatures found (looked in: {looked}); pass --rules or set rules.signatures in the config"
    )]
    NoSignatures { looked: String },
}

/// A problem found while compiling a rule file or reading a hash list.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Issue {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
    /// True for yara-x warnings (slow pattern, ...); false for errors.
    pub warning: bool,
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.warning { "warning" } else { "error" };
        match self.line {
            Some(l) => write!(
                f,
                "{}:{}: {kind}: {}",
                pathfmt::show(&self.file),
                l,
                self.message
            ),
            None => write!(f, "{}: {kind}: {}", pathfmt::show(&self.file), self.message),
        }
    }
}

/// One rule source: a YARA file, a hash list, or a directory of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub namespace: String,
}

/// How to compile.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompileOptions {
    /// Fail when any file does not compile.
    pub strict: bool,
}

/// A compiled rule set with its hash lists.
pub struct RuleSet {
    pub rules: yara_x::Rules,
    pub hashes: HashList,
    pub info: RulesetInfo,
    pub issues: Vec<Issue>,
    /// Files that compiled (or parsed) and files that did not.
    pub files_ok: usize,
    pub files_failed: usize,
}

impl RuleSet {
    pub fn errors(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| !i.warning)
    }

    /// The rule sources that were meant to be used but are not in this
    /// set (a file that failed to compile or could not be read, a rule
    /// pack that could not be loaded), one per source with its first
    /// error. Every scan with this set records each as a coverage gap, so
    /// a shrunken rule set can never give a CLEAN verdict.
    pub fn missing_sources(&self) -> Vec<&Issue> {
        let mut seen = std::collections::HashSet::new();
        self.errors().filter(|i| seen.insert(&i.file)).collect()
    }
}

/// A source file read into memory, in load order.
struct SourceFile {
    path: PathBuf,
    rel: String,
    namespace: String,
    kind: FileKind,
    text: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Yara,
    HashList,
}

fn file_kind(path: &Path) -> Option<FileKind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "yar" | "yara" => Some(FileKind::Yara),
        "hashes" | "txt" => Some(FileKind::HashList),
        _ => None,
    }
}

/// Picks a namespace for each path: its file stem or directory name, made
/// an identifier and de-duplicated.
pub fn sources_for(paths: &[PathBuf]) -> Vec<Source> {
    let mut used: HashMap<String, usize> = HashMap::new();
    paths
        .iter()
        .map(|p| {
            let base = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "rules".into());
            let mut ns: String = base
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            if ns.is_empty() || ns.starts_with(|c: char| c.is_ascii_digit()) {
                ns.insert_str(0, "r_");
            }
            let n = used.entry(ns.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                ns = format!("{ns}_{n}");
            }
            Source {
                path: p.clone(),
                namespace: ns,
            }
        })
        .collect()
}

/// Finds the bundled `signatures/` directory: the configured one, then the
/// installed location, then beside the binary, then the source tree.
pub fn find_signatures(configured: Option<&Path>) -> Result<PathBuf, RulesError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(c) = configured {
        candidates.push(c.to_path_buf());
    }
    candidates.push(PathBuf::from(INSTALLED_SIGNATURES));
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join("signatures"));
            candidates.push(dir.join("../share/kensa/signatures"));
        }
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("signatures"));
    for c in &candidates {
        if c.is_dir() {
            return Ok(c.clone());
        }
        // A configured path that does not exist is an error, not a fallback.
        if configured.is_some() && Some(c.as_path()) == configured {
            return Err(RulesError::NoSignatures {
                looked: pathfmt::display(c),
            });
        }
    }
    Err(RulesError::NoSignatures {
        looked: candidates
            .iter()
            .map(|c| pathfmt::display(c))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

fn read_capped(path: &Path) -> Result<String, crate::fsutil::ReadError> {
    crate::fsutil::read_capped_text(path, MAX_SOURCE_FILE)
}

/// Wraps an I/O error met while listing `path`.
fn read_error(path: PathBuf) -> impl FnOnce(std::io::Error) -> RulesError {
    move |source| RulesError::Read { path, source }
}

/// Lists the rule and hash files of a source, sorted. Symlinks are never
/// followed: one with a rule or hash-list name is listed, and reading
/// reports it as not loaded, so a rule set cannot shrink unseen.
fn list_files(src: &Source) -> Result<Vec<(PathBuf, String, FileKind)>, RulesError> {
    let meta = std::fs::metadata(&src.path).map_err(read_error(src.path.clone()))?;
    if meta.is_file() {
        let name = src
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // An explicitly named file is YARA unless it is clearly a hash list.
        let kind = file_kind(&src.path).unwrap_or(FileKind::Yara);
        return Ok(vec![(src.path.clone(), name, kind)]);
    }
    if !meta.is_dir() {
        return Err(RulesError::NotFileOrDir {
            path: src.path.clone(),
        });
    }
    let mut out = Vec::new();
    let mut stack = vec![src.path.clone()];
    while let Some(dir) = stack.pop() {
        list_dir(&src.path, &dir, &mut stack, &mut out)?;
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Lists one directory of the source rooted at `root`: pushes its
/// subdirectories on `stack` and its rule and hash files on `out`, with
/// their path relative to `root`.
fn list_dir(
    root: &Path,
    dir: &Path,
    stack: &mut Vec<PathBuf>,
    out: &mut Vec<(PathBuf, String, FileKind)>,
) -> Result<(), RulesError> {
    let rd = std::fs::read_dir(dir).map_err(read_error(dir.to_path_buf()))?;
    for ent in rd {
        let ent = ent.map_err(read_error(dir.to_path_buf()))?;
        let ft = ent.file_type().map_err(read_error(ent.path()))?;
        let p = ent.path();
        if ft.is_dir() {
            stack.push(p);
        } else if ft.is_file() || ft.is_symlink() {
            // Symlinks are listed so that reading reports them as refused.
            let Some(kind) = file_kind(&p) else { continue };
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            out.push((p, rel, kind));
            if out.len() > MAX_SOURCE_FILES {
                return Err(RulesError::TooManyFiles {
                    path: root.to_path_buf(),
                });
            }
        }
    }
    Ok(())
}

/// Names of rules a YARA source defines, found with a light scan (comments
/// and strings may give false names; that only affects ordering).
fn defined_rules(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut words = identifiers(text).peekable();
    while let Some(w) = words.next() {
        if w == "rule" {
            if let Some(name) = words.peek() {
                names.push(name.to_string());
            }
        }
    }
    names
}

fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// Orders the YARA files of one set so that a file defining a rule comes
/// before files that use it (Kahn's algorithm; ties and cycles by name).
fn dependency_order(files: &[SourceFile]) -> Vec<usize> {
    let mut owner: HashMap<String, usize> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        if f.kind == FileKind::Yara {
            for name in defined_rules(&f.text) {
                owner.entry(name).or_insert(i);
            }
        }
    }
    let n = files.len();
    let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for (i, f) in files.iter().enumerate() {
        if f.kind != FileKind::Yara {
            continue;
        }
        for w in identifiers(&f.text) {
            if let Some(&j) = owner.get(w) {
                if j != i {
                    deps[i].insert(j);
                }
            }
        }
    }
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let next = (0..n)
            .find(|&i| !done[i] && deps[i].iter().all(|&d| done[d]))
            // A cycle: take the first remaining file; yara-x reports it.
            .or_else(|| (0..n).find(|&i| !done[i]))
            .expect("some file remains");
        done[next] = true;
        order.push(next);
    }
    order
}

/// Rule sources read into memory with their digest, not yet compiled. The
/// digest is known before compiling, so a cached compilation can be reused.
pub struct Prepared {
    sources: Vec<Source>,
    files: Vec<SourceFile>,
    read_issues: Vec<Issue>,
    digest: String,
}

impl Prepared {
    /// SHA-256 over every file's namespace, relative path and content, and
    /// the yara-x version (hex).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The sources this set was read from.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// Every rule or hash-list file read, in load order.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|f| f.path.as_path())
    }

    /// Files that could not be read (they are left out of the set).
    pub fn read_issues(&self) -> &[Issue] {
        &self.read_issues
    }

    /// Parses the hash lists again (cheap); bad lines are ignored here
    /// because the cached issues already report them.
    pub(crate) fn hash_lists(&self) -> HashList {
        let mut hashes = HashList::default();
        for f in self.files.iter().filter(|f| f.kind == FileKind::HashList) {
            let _ = hashes.add_text(&f.text, &f.namespace);
        }
        hashes
    }
}

/// Reads every file of the sources and computes the set's digest.
pub fn prepare(sources: &[Source]) -> Result<Prepared, RulesError> {
    let mut files: Vec<SourceFile> = Vec::new();
    let mut issues = Vec::new();
    for src in sources {
        files.extend(read_source(src, &mut issues)?);
    }
    let digest = set_digest(&files);
    Ok(Prepared {
        sources: sources.to_vec(),
        files,
        read_issues: issues,
        digest,
    })
}

/// Reads the files of one source, in dependency order; a file that cannot
/// be read becomes an issue.
fn read_source(src: &Source, issues: &mut Vec<Issue>) -> Result<Vec<SourceFile>, RulesError> {
    let mut set = Vec::new();
    for (path, rel, kind) in list_files(src)? {
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            issues.push(Issue {
                file: path,
                line: None,
                message: "a symbolic link; not loaded (rule files must be regular files)".into(),
                warning: false,
            });
            continue;
        }
        match read_capped(&path) {
            Ok(text) => set.push(SourceFile {
                path,
                rel,
                namespace: src.namespace.clone(),
                kind,
                text,
            }),
            Err(e) => issues.push(Issue {
                file: path,
                line: None,
                message: format!("cannot read: {}", e.reason()),
                warning: false,
            }),
        }
    }
    let order = dependency_order(&set);
    let mut slots: Vec<Option<SourceFile>> = set.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .map(|i| slots[i].take().expect("each index once"))
        .collect())
}

/// The set's digest (hex SHA-256): every file's namespace, relative path
/// and content, sorted, then the yara-x version.
fn set_digest(files: &[SourceFile]) -> String {
    let mut digest_parts: BTreeMap<(String, String), [u8; 32]> = BTreeMap::new();
    for f in files {
        digest_parts.insert(
            (f.namespace.clone(), f.rel.clone()),
            Sha256::digest(f.text.as_bytes()).into(),
        );
    }
    let mut digest = Sha256::new();
    for ((ns, rel), h) in &digest_parts {
        digest.update(ns.as_bytes());
        digest.update([0]);
        digest.update(rel.as_bytes());
        digest.update([0]);
        digest.update(h);
    }
    digest.update(b"yara-x ");
    digest.update(yara_x_version().as_bytes());
    hex::encode(digest.finalize())
}

/// Reads and compiles rule sources into one rule set.
pub fn compile(sources: &[Source], opts: CompileOptions) -> Result<RuleSet, RulesError> {
    compile_prepared(&prepare(sources)?, opts)
}

/// Compiles prepared sources into one rule set.
pub fn compile_prepared(prep: &Prepared, opts: CompileOptions) -> Result<RuleSet, RulesError> {
    let c = compile_parts(prep, opts)?;
    assemble(prep, c)
}

/// What `kensa rules check` reports: every issue and the totals, even
/// when nothing compiled.
pub struct CheckReport {
    pub issues: Vec<Issue>,
    pub files_ok: usize,
    pub files_failed: usize,
    pub rules: usize,
    pub hashes: usize,
}

/// Compiles prepared sources for a report only.
pub fn check_prepared(prep: &Prepared) -> CheckReport {
    let c = compile_parts(prep, CompileOptions::default())
        .expect("compiling without strict mode does not fail");
    CheckReport {
        rules: c.rules.iter().count(),
        hashes: c.hashes.len(),
        issues: c.issues,
        files_ok: c.files_ok,
        files_failed: c.files_failed,
    }
}

/// Compiles the prepared files: hash lists into one list, YARA files into
/// one rule set, each source in its namespace.
fn compile_parts(prep: &Prepared, opts: CompileOptions) -> Result<Compiled, RulesError> {
    // A file that could not be read (or was refused) is a failed file:
    // `--strict` refuses the set rather than let it shrink unseen.
    let mut tally = Tally {
        issues: prep.read_issues.clone(),
        files_ok: 0,
        files_failed: prep.read_issues.len(),
    };
    let mut compiler = yara_x::Compiler::new();
    for name in EXTERNALS {
        compiler
            .define_global(name, "")
            .expect("string globals are valid before any source");
    }
    let mut hashes = HashList::default();
    let mut current_ns = String::new();
    for f in &prep.files {
        match f.kind {
            FileKind::HashList => add_hash_list(&mut hashes, f, &mut tally),
            FileKind::Yara => {
                if f.namespace != current_ns {
                    compiler.new_namespace(&f.namespace);
                    current_ns = f.namespace.clone();
                }
                add_yara(&mut compiler, f, &mut tally);
            }
        }
    }
    check_strict(opts, tally.files_failed, &tally.issues)?;
    Ok(Compiled {
        rules: compiler.build(),
        hashes,
        issues: tally.issues,
        files_ok: tally.files_ok,
        files_failed: tally.files_failed,
    })
}

/// What compiling the files of a set has found so far.
struct Tally {
    issues: Vec<Issue>,
    files_ok: usize,
    files_failed: usize,
}

impl Tally {
    /// Counts one file as loaded or failed.
    fn count(&mut self, ok: bool) {
        if ok {
            self.files_ok += 1;
        } else {
            self.files_failed += 1;
        }
    }
}

/// Adds one hash-list file to `hashes`; each bad line is an issue.
fn add_hash_list(hashes: &mut HashList, f: &SourceFile, tally: &mut Tally) {
    let bad = hashes.add_text(&f.text, &f.namespace);
    tally.count(bad.is_empty());
    tally.issues.extend(bad.into_iter().map(|b| Issue {
        file: f.path.clone(),
        line: Some(b.line),
        message: b.message,
        warning: false,
    }));
}

/// Adds one YARA file to the compiler (in its current namespace); each of
/// its errors and warnings is an issue.
fn add_yara(compiler: &mut yara_x::Compiler<'_>, f: &SourceFile, tally: &mut Tally) {
    let before = compiler.errors().len();
    let warn_before = compiler.warnings().len();
    let origin = pathfmt::display(&f.path);
    let src = yara_x::SourceCode::from(f.text.as_str()).with_origin(origin);
    let _ = compiler.add_source(src);
    let errs = &compiler.errors()[before..];
    tally.count(errs.is_empty());
    for e in errs {
        tally.issues.push(Issue {
            file: f.path.clone(),
            line: first_label_line(e.labels().next()),
            message: e.title().to_string(),
            warning: false,
        });
    }
    for w in &compiler.warnings()[warn_before..] {
        tally.issues.push(Issue {
            file: f.path.clone(),
            line: first_label_line(w.labels().next()),
            message: w.title().to_string(),
            warning: true,
        });
    }
}

/// The parts of a rule set that come from compiling (or from the cache).
pub(crate) struct Compiled {
    pub rules: yara_x::Rules,
    pub hashes: HashList,
    pub issues: Vec<Issue>,
    pub files_ok: usize,
    pub files_failed: usize,
}

pub(crate) fn check_strict(
    opts: CompileOptions,
    files_failed: usize,
    issues: &[Issue],
) -> Result<(), RulesError> {
    if opts.strict && files_failed > 0 {
        let first = issues
            .iter()
            .find(|i| !i.warning)
            .map(|i| i.to_string())
            .unwrap_or_default();
        return Err(RulesError::Strict {
            count: files_failed,
            first,
        });
    }
    Ok(())
}

/// Builds the rule set from compiled parts; refuses an empty set.
pub(crate) fn assemble(prep: &Prepared, c: Compiled) -> Result<RuleSet, RulesError> {
    let count = c.rules.iter().count();
    if count == 0 && c.hashes.is_empty() {
        return Err(RulesError::Empty {
            sources: prep
                .sources
                .iter()
                .map(|s| pathfmt::display(&s.path))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let info = RulesetInfo {
        id: prep.digest[..16].to_string(),
        digest: prep.digest.clone(),
        rules: count,
        hashes: c.hashes.len(),
        pack_version: None,
    };
    Ok(RuleSet {
        rules: c.rules,
        hashes: c.hashes,
        info,
        issues: c.issues,
        files_ok: c.files_ok,
        files_failed: c.files_failed,
    })
}

fn first_label_line<L: serde::Serialize>(label: Option<L>) -> Option<usize> {
    let label = label?;
    let v = serde_json::to_value(&label).ok()?;
    v.get("line")?.as_u64().map(|l| l as usize)
}

/// The yara-x version compiled into this binary; keys caches and digests.
pub fn yara_x_version() -> &'static str {
    "1.22.1"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sf(name: &str, text: &str) -> SourceFile {
        SourceFile {
            path: PathBuf::from(name),
            rel: name.into(),
            namespace: "t".into(),
            kind: FileKind::Yara,
            text: text.into(),
        }
    }

    #[test]
    fn dependency_order_puts_definitions_first() {
        let files = vec![
            sf("a.yar", "rule uses_b { condition: base_rule }"),
            sf("b.yar", "rule base_rule { condition: true }"),
            sf("c.yar", "rule alone { condition: false }"),
        ];
        let order = dependency_order(&files);
        let pos = |i| order.iter().position(|&x| x == i).unwrap();
        assert!(pos(1) < pos(0));
        assert_eq!(order.len(), 3);
    }

    #[test]
    fn namespaces_are_identifiers_and_unique() {
        let s = sources_for(&[
            PathBuf::from("/x/my-rules"),
            PathBuf::from("/y/my-rules.yar"),
            PathBuf::from("/z/1st"),
        ]);
        assert_eq!(s[0].namespace, "my_rules");
        assert_eq!(s[1].namespace, "my_rules_2");
        assert_eq!(s[2].namespace, "r_1st");
    }
}
