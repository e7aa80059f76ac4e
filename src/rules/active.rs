//! The active rule set: which sources a scan or the agent uses and how
//! they are loaded. By default that is the bundled `signatures/` (namespace
//! `kensa`), the configured extra paths, and the installed rule pack's
//! files (namespace `pack`); `--rules` replaces all of them. Loading goes
//! through the compiled-rule cache in `<state>/cache` (when the state
//! directory exists; it is never created here), so an unchanged set starts
//! without compiling. Compile problems are logged here once, for
//! every caller (`scan`, `run`, `status`, the agent's reloads).

use super::{cache, find_signatures, sources_for, CompileOptions, RuleSet, RulesError, Source};
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
    let sources = if req.explicit.is_empty() {
        let pack = super::pack::installed(state);
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
    let (mut set, status) = cache::load_or_compile(cache_dir.as_deref(), &sources, opts)?;
    set.info.pack_version = pack_version;
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
