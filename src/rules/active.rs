//! The active rule set: which sources a scan or the agent uses and how
//! they are loaded. By default that is the bundled `signatures/` (namespace
//! `kensa`), the configured extra paths, and the installed rule pack's
//! files (namespace `pack`); `--rules` replaces all of them. Loading goes
//! through the compiled-rule cache in `<state>/cache` (when the state
//! directory exists; it is never created here), so an unchanged set starts
//! without compiling. Compile problems are logged here once, for
//! every caller (`scan`, `run`, `status`, the agent's reloads).
//! [`test_compile`] compiles the set a candidate rule pack would make
//! active, before the pack is installed, and warms the cache with it.

use super::{
    cache, find_signatures, sources_for, CompileOptions, Issue, RuleSet, RulesError, Source,
};
use crate::config::RulesConfig;
use crate::state::StateDir;
use std::path::{Path, PathBuf};

/// What to load: the configured defaults, or explicit paths instead.
#[derive(Clone, Debug, Default)]
pub struct RuleRequest {
    /// `--rules` paths (absolute); empty means the default set.
    pub explicit: Vec<PathBuf>,
    /// Refuse the set if any file fails to compile.
    pub strict: bool,
    /// Use an existing compiled-rule cache entry but write none (`kensa
    /// status` creates no file).
    pub read_only: bool,
}

/// The default sources: the bundled signatures (namespace `kensa`), the
/// configured extras, and `pack_files` (namespace `pack`) when a pack is
/// installed.
pub fn default_sources(
    config: &RulesConfig,
    pack_files: Option<&Path>,
) -> Result<Vec<Source>, RulesError> {
    let mut paths = vec![find_signatures(config.signatures.as_deref())?];
    paths.extend(config.extra.iter().cloned());
    if let Some(p) = pack_files {
        paths.push(p.to_path_buf());
    }
    let mut sources = sources_for(&paths);
    sources[0].namespace = "kensa".to_string();
    if pack_files.is_some() {
        if let Some(last) = sources.last_mut() {
            last.namespace = "pack".to_string();
        }
    }
    Ok(sources)
}

/// Resolves and loads the active rule set for `state` (cache in
/// `<state>/cache`). The configured `strict` adds to the request's.
pub fn load(
    state: &StateDir,
    config: &RulesConfig,
    req: &RuleRequest,
) -> Result<RuleSet, RulesError> {
    let mut pack_version = None;
    let mut pack_issue = None;
    let sources = if req.explicit.is_empty() {
        let pack = match super::pack::try_installed(state) {
            Ok(p) => p,
            Err(e) => {
                // Not a silent drop: the set is marked as missing the pack,
                // and every scan with it records that as a gap.
                pack_issue = Some(Issue {
                    file: state.rules_current(),
                    line: None,
                    message: format!("the installed rule pack could not be loaded: {e}"),
                    warning: false,
                });
                None
            }
        };
        pack_version = pack.as_ref().map(|p| p.version);
        default_sources(config, pack.as_ref().map(|p| p.rules_dir()).as_deref())?
    } else {
        sources_for(&req.explicit)
    };
    let opts = CompileOptions {
        strict: req.strict || config.strict,
    };
    // The cache lives in an existing state directory; loading rules never
    // creates one (`kensa status` and a scan by an unprivileged user on a
    // machine without an agent compile instead).
    let cache_dir = state.root().is_dir().then(|| state.cache_dir());
    if let Some(issue) = pack_issue.as_ref().filter(|_| opts.strict) {
        return Err(RulesError::Strict {
            count: 1,
            first: issue.to_string(),
        });
    }
    let (mut set, status) =
        cache::load_or_compile_as(cache_dir.as_deref(), &sources, opts, !req.read_only)?;
    set.info.pack_version = pack_version;
    if let Some(issue) = pack_issue {
        set.issues.push(issue);
        set.files_failed += 1;
    }
    for issue in &set.issues {
        if issue.warning {
            tracing::debug!("{issue}");
        } else {
            tracing::warn!("{issue}");
        }
    }
    let pack = pack_version.map_or_else(|| "none".to_string(), |v| v.to_string());
    let cache = status.as_ref().map_or("off", cache::CacheStatus::as_str);
    tracing::info!(
        rules = set.info.rules,
        hashes = set.info.hashes,
        digest = %set.info.id,
        pack = %pack,
        cache = %cache,
        "rules loaded"
    );
    Ok(set)
}

/// Compile errors a [`TestCompileError::Failed`] keeps (and shows).
const MAX_ERRORS_SHOWN: usize = 20;

/// Why a candidate pack's active set cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TestCompileError {
    #[error("{0}")]
    Rules(#[from] RulesError),
    /// Some files failed to compile; `errors` holds the first of their
    /// errors (names sanitised for a terminal when shown).
    #[error("{failed} file(s) failed to compile:\n{}", show_errors(.errors))]
    Failed { failed: usize, errors: Vec<Issue> },
}

fn show_errors(errors: &[Issue]) -> String {
    let lines: Vec<String> = errors
        .iter()
        .map(|i| format!("  {}", crate::output::sanitize(&i.to_string())))
        .collect();
    lines.join("\n")
}

/// Compiles the default active set with `pack_files` as the pack's files
/// (a pack about to be installed) and stores it in the cache under
/// `state` so the agent's reload finds it compiled. Returns the rule
/// count; any file that fails to compile refuses the set.
pub fn test_compile(
    state: &StateDir,
    config: &RulesConfig,
    pack_files: &Path,
) -> Result<usize, TestCompileError> {
    let sources = default_sources(config, Some(pack_files))?;
    let prep = super::prepare(&sources)?;
    let set = super::compile_prepared(&prep, CompileOptions { strict: false })?;
    if set.files_failed > 0 {
        return Err(TestCompileError::Failed {
            failed: set.files_failed,
            errors: set.errors().take(MAX_ERRORS_SHOWN).cloned().collect(),
        });
    }
    if let Err(e) = cache::store(&state.cache_dir(), &prep, &set) {
        tracing::debug!("compiled pack rules not cached: {e}");
    }
    Ok(set.info.rules)
}
