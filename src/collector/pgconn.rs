//! Reaching a PostgreSQL collector database: the `postgresql://` URL (read
//! here, shown everywhere only through [`redact`], which removes any
//! password), the password (from a password file, else the libpq password
//! file `PGPASSFILE` / `~/.pgpass`, each refused when group or others may
//! read it, as libpq does), TLS by `sslmode` (rustls with the ring
//! provider; the server certificate is always verified, against
//! `sslrootcert`), and the session settings every connection gets
//! (timeouts, UTC). A password inside the URL is refused: it would sit in
//! shell histories, process lists and config files.

use postgres::config::{Host, SslMode};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Longest password file read, in bytes.
const MAX_PASSWORD_FILE: u64 = 64 * 1024;
/// Longest certificate file read, in bytes.
const MAX_CERT_FILE: u64 = 1024 * 1024;
/// Connection attempt limit when the URL names none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Idle time before TCP keepalives probe a silent server.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// Longest a single statement may run before the server cancels it.
const STATEMENT_TIMEOUT: &str = "15min";
/// Longest a transaction may sit idle (a client that died mid-import).
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "5min";

/// Why a PostgreSQL target could not be set up. Every text that quotes the
/// URL quotes it redacted.
#[derive(Debug, thiserror::Error)]
pub enum PgConfigError {
    #[error("database {url}: not a postgresql:// URL")]
    NotUrl { url: String },
    #[error("database {url}: a password inside the URL is refused (it would show in shell histories, process lists and logs); put it in a password file (--database-password-file, [collector] password_file, or PGPASSFILE / ~/.pgpass)")]
    PasswordInUrl { url: String },
    #[error("database {url}: {why}")]
    Url { url: String, why: String },
    #[error("database {url}: sslmode={mode} is not supported (disable, prefer, require, verify-ca or verify-full)")]
    SslMode { url: String, mode: String },
    #[error("password file {path}: {source}")]
    PasswordFile {
        path: String,
        #[source]
        source: crate::fsutil::ReadError,
    },
    #[error("password file {path} may be read by group or others (mode {mode:o}); allow only its owner (chmod 600)")]
    PasswordFileMode { path: String, mode: u32 },
    #[error("password file {path} is not a regular file")]
    PasswordFileKind { path: String },
    #[error("password file {path} holds no password")]
    PasswordFileEmpty { path: String },
    #[error("certificate file {path}: {why}")]
    Certificate { path: String, why: String },
    #[error("database {url}: sslmode={mode} needs the certificate authority that signed the server's certificate: sslrootcert=FILE in the URL, or ~/.postgresql/root.crt")]
    NoRootCertificate { url: String, mode: String },
}

/// The URL with any password removed: the `user:password@` password and a
/// `password=` parameter. Not a `postgresql://` URL: a placeholder, since
/// it may be anything, a password included.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = split_scheme(url) else {
        return "<not a postgresql:// URL>".to_string();
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{user}@{hosts}")
        }
        None => authority.to_string(),
    };
    let mut out = format!("{scheme}://{authority}{path}");
    if let Some(q) = query {
        let kept: Vec<&str> = q
            .split('&')
            .filter(|p| {
                !p.split('=')
                    .next()
                    .unwrap_or("")
                    .eq_ignore_ascii_case("password")
            })
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    out
}

/// `postgresql://` or `postgres://`, and what follows it.
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    (scheme.eq_ignore_ascii_case("postgresql") || scheme.eq_ignore_ascii_case("postgres"))
        .then_some((scheme, rest))
}

/// Whether a URL carries a password (in the user info or as a parameter).
fn has_password(url: &str) -> bool {
    let Some((_, rest)) = split_scheme(url) else {
        return false;
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, q),
        None => (rest, ""),
    };
    let authority = before_query.split('/').next().unwrap_or("");
    let in_userinfo = authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    let in_query = query.split('&').any(|p| {
        p.split('=')
            .next()
            .unwrap_or("")
            .eq_ignore_ascii_case("password")
    });
    in_userinfo || in_query
}

/// How TLS is used, from `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls {
    /// Never (`disable`).
    Off,
    /// When the server offers it and a certificate authority is known
    /// (`prefer`, the default); plain otherwise.
    Prefer,
    /// Always, the server's certificate verified for its host name
    /// (`require`, `verify-ca`, `verify-full`: kensa checks the name in all
    /// three, which is stricter than libpq's `require` and `verify-ca`).
    Require,
}

/// A PostgreSQL database to open: the parsed connection settings (the
/// password from a file, if any), TLS, and the URL as it may be shown.
#[derive(Clone)]
pub struct PgTarget {
    config: postgres::Config,
    tls: Tls,
    roots: Option<PathBuf>,
    shown: String,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("url", &self.shown)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl PgTarget {
    /// Reads `url` and finds its password: `password_file` when given,
    /// else the entry of the libpq password file that matches.
    pub fn new(url: &str, password_file: Option<&Path>) -> Result<PgTarget, PgConfigError> {
        let shown = redact(url);
        if split_scheme(url).is_none() {
            return Err(PgConfigError::NotUrl { url: shown });
        }
        if has_password(url) {
            return Err(PgConfigError::PasswordInUrl { url: shown });
        }
        let (rest, mode, roots) = own_parameters(url, &shown)?;
        let mut config: postgres::Config =
            rest.parse()
                .map_err(|e: postgres::Error| PgConfigError::Url {
                    url: shown.clone(),
                    why: e.to_string(),
                })?;
        if config.get_user().is_none() {
            config.user(&crate::system::current_user());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives_idle(KEEPALIVE_IDLE);
        config.application_name("kensa");
        let password = match password_file {
            Some(p) => Some(read_password_file(p)?),
            None => pgpass_password(&config)?,
        };
        if let Some(p) = password {
            config.password(p);
        }
        let tls = tls_mode(mode.as_deref(), &shown)?;
        let roots = roots.or_else(default_root_file);
        if tls == Tls::Require && roots.is_none() {
            return Err(PgConfigError::NoRootCertificate {
                url: shown,
                mode: mode.unwrap_or_default(),
            });
        }
        Ok(PgTarget {
            config,
            tls,
            roots,
            shown,
        })
    }

    /// The URL with any password removed.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Opens a connection and applies the session settings.
    pub fn connect(&self) -> Result<postgres::Client, super::StoreError> {
        let connect_err = |source| super::StoreError::PgConnect {
            target: self.shown.clone(),
            source,
        };
        let mut config = self.config.clone();
        let mut client = match (self.tls, &self.roots) {
            (Tls::Off, _) | (Tls::Prefer, None) => {
                config.ssl_mode(SslMode::Disable);
                config.connect(postgres::NoTls).map_err(connect_err)?
            }
            (mode, Some(roots)) => {
                config.ssl_mode(if mode == Tls::Require {
                    SslMode::Require
                } else {
                    SslMode::Prefer
                });
                let tls = rustls_connector(roots)?;
                config.connect(tls).map_err(connect_err)?
            }
            (Tls::Require, None) => {
                return Err(PgConfigError::NoRootCertificate {
                    url: self.shown.clone(),
                    mode: "require".into(),
                }
                .into())
            }
        };
        client
            .batch_execute(&format!(
                "SET TimeZone = 'UTC'; SET lock_timeout = '{}s'; SET statement_timeout = '{STATEMENT_TIMEOUT}'; SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION_TIMEOUT}'",
                super::sqlite::BUSY_TIMEOUT.as_secs()
            ))
            .map_err(connect_err)?;
        Ok(client)
    }
}

/// The TLS use an `sslmode` value asks for (`allow` is taken as `prefer`).
fn tls_mode(mode: Option<&str>, shown: &str) -> Result<Tls, PgConfigError> {
    match mode {
        None | Some("prefer") | Some("allow") => Ok(Tls::Prefer),
        Some("disable") => Ok(Tls::Off),
        Some("require" | "verify-ca" | "verify-full") => Ok(Tls::Require),
        Some(other) => Err(PgConfigError::SslMode {
            url: shown.to_string(),
            mode: other.to_string(),
        }),
    }
}

/// Takes kensa's own parameters (`sslmode`, `sslrootcert`) out of the URL,
/// which the client library then reads; returns the rest and them.
fn own_parameters(
    url: &str,
    shown: &str,
) -> Result<(String, Option<String>, Option<PathBuf>), PgConfigError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None, None));
    };
    let mut kept = Vec::new();
    let (mut mode, mut roots) = (None, None);
    for p in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        let value = || {
            percent_decode(v).ok_or_else(|| PgConfigError::Url {
                url: shown.to_string(),
                why: format!("parameter {k}: bad percent-encoding"),
            })
        };
        match k {
            "sslmode" => mode = Some(value()?),
            "sslrootcert" => roots = Some(PathBuf::from(value()?)),
            _ => kept.push(p),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, mode, roots))
}

/// `%XX` decoding of a URL parameter value (UTF-8); `None` when malformed.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// libpq's default certificate authority file, when it exists.
fn default_root_file() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let p = Path::new(&home).join(".postgresql/root.crt");
    p.is_file().then_some(p)
}

/// A TLS connector that trusts the certificates in `roots` (PEM).
fn rustls_connector(
    roots: &Path,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, PgConfigError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let shown = crate::engine::pathfmt::display(roots);
    let bad = |why: String| PgConfigError::Certificate {
        path: shown.clone(),
        why,
    };
    let pem = crate::fsutil::read_capped(roots, MAX_CERT_FILE).map_err(|e| bad(e.to_string()))?;
    let mut store = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad(format!("not PEM certificates: {e}")))?;
        store
            .add(cert)
            .map_err(|e| bad(format!("unusable certificate: {e}")))?;
    }
    if store.is_empty() {
        return Err(bad("holds no certificate".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(format!("TLS setup: {e}")))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Checks that only the owner may read a password file (as libpq does for
/// its password file); on other systems nothing is checked.
fn check_private(path: &Path, shown: &str) -> Result<(), PgConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).map_err(|e| PgConfigError::PasswordFile {
            path: shown.to_string(),
            source: crate::fsutil::ReadError::Io(crate::fsutil::PathError::new(path, e)),
        })?;
        if !meta.is_file() {
            return Err(PgConfigError::PasswordFileKind {
                path: shown.to_string(),
            });
        }
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(PgConfigError::PasswordFileMode {
                path: shown.to_string(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (path, shown);
    Ok(())
}

/// A password file: the password is its first line (a trailing CR
/// dropped).
fn read_password_file(path: &Path) -> Result<String, PgConfigError> {
    let shown = crate::engine::pathfmt::display(path);
    check_private(path, &shown)?;
    let text = crate::fsutil::read_capped_text(path, MAX_PASSWORD_FILE).map_err(|source| {
        PgConfigError::PasswordFile {
            path: shown.clone(),
            source,
        }
    })?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if line.is_empty() {
        return Err(PgConfigError::PasswordFileEmpty { path: shown });
    }
    Ok(line.to_string())
}

/// The libpq password file: `PGPASSFILE`, else `~/.pgpass`
/// (`%APPDATA%\postgresql\pgpass.conf` on Windows).
fn pgpass_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PGPASSFILE") {
        return Some(PathBuf::from(p));
    }
    if cfg!(windows) {
        let appdata = std::env::var_os("APPDATA")?;
        return Some(Path::new(&appdata).join("postgresql").join("pgpass.conf"));
    }
    let home = std::env::var_os("HOME")?;
    Some(Path::new(&home).join(".pgpass"))
}

/// The password the libpq password file holds for this connection, if
/// the file exists; a file others may read is an error (libpq ignores it
/// with a warning; kensa says so and stops).
fn pgpass_password(config: &postgres::Config) -> Result<Option<String>, PgConfigError> {
    let Some(path) = pgpass_path() else {
        return Ok(None);
    };
    if !path.exists() {
        return Ok(None);
    }
    let shown = crate::engine::pathfmt::display(&path);
    check_private(&path, &shown)?;
    let text = crate::fsutil::read_capped_text(&path, MAX_PASSWORD_FILE).map_err(|source| {
        PgConfigError::PasswordFile {
            path: shown,
            source,
        }
    })?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        // A socket directory matches `localhost`, as in libpq.
        #[cfg(unix)]
        Some(Host::Unix(_)) => "localhost".to_string(),
        None => "localhost".to_string(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or_default();
    let db = config.get_dbname().unwrap_or(user);
    Ok(pgpass_lookup(&text, [&host, &port, db, user]))
}

/// The password of the first line of a password file whose four fields
/// (host, port, database, user; `*` matches anything) match `want`.
fn pgpass_lookup(text: &str, want: [&str; 4]) -> Option<String> {
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let fields = pgpass_fields(line);
        let Some((password, keys)) = fields.split_last() else {
            continue;
        };
        if keys.len() != 4 {
            continue;
        }
        if keys.iter().zip(want).all(|(k, w)| k == "*" || k == w) {
            return Some(password.clone());
        }
    }
    None
}

/// The `:`-separated fields of a password file line (`\:` and `\\`
/// escape); the fifth field takes the rest of the line.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        let last = fields.len();
        match c {
            '\\' => {
                if let (Some(next), Some(f)) = (chars.next(), fields.last_mut()) {
                    f.push(next);
                }
            }
            ':' if last < 5 => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        for (url, shown) in [
            (
                "postgresql://kensa:s3cret@db.example/kensa",
                "postgresql://kensa@db.example/kensa",
            ),
            (
                "postgres://kensa:s3:cr@et@db:5432/k?sslmode=require&password=s3cret",
                "postgres://kensa@db:5432/k?sslmode=require",
            ),
            (
                "postgresql:///kensa?host=/run/pg&PASSWORD=x",
                "postgresql:///kensa?host=/run/pg",
            ),
            ("host=db password=s3cret", "<not a postgresql:// URL>"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
            assert!(!redact(url).contains("s3"), "{url}");
        }
        let e = PgTarget::new("postgresql://kensa:s3cret@db/kensa", None).unwrap_err();
        assert!(matches!(e, PgConfigError::PasswordInUrl { .. }));
        assert!(!e.to_string().contains("s3cret"), "{e}");
        let e = PgTarget::new("postgresql://db/k?password=s3cret&sslmode=bogus", None).unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        let e = PgTarget::new("postgresql://db/k?sslmode=bogus", None).unwrap_err();
        assert!(matches!(e, PgConfigError::SslMode { .. }), "{e}");
        assert!(
            !format!("{:?}", PgTarget::new("postgresql://u@db/k", None).unwrap())
                .contains("password")
        );
    }

    #[test]
    fn pgpass_lines_match_as_libpq_reads_them() {
        let text = "# comment\n\
                    other:5432:*:*:wrong\n\
                    localhost:5432:kensa:an\\:alyst:p\\:w:x\n\
                    *:*:*:*:fallback\n";
        assert_eq!(
            pgpass_lookup(text, ["localhost", "5432", "kensa", "an:alyst"]).as_deref(),
            Some("p:w:x")
        );
        assert_eq!(
            pgpass_lookup(text, ["db", "5433", "x", "y"]).as_deref(),
            Some("fallback")
        );
        assert_eq!(pgpass_lookup("a:b:c\n", ["a", "b", "c", "d"]), None);
    }

    #[test]
    fn a_password_file_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_password_file(&p).unwrap_err();
        assert!(matches!(e, PgConfigError::PasswordFileMode { .. }), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_password_file(&p).unwrap(), "s3cret");
    }

    #[test]
    fn kensa_parameters_are_taken_out() {
        let (rest, mode, roots) = own_parameters(
            "postgresql://db/k?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=5",
            "",
        )
        .unwrap();
        assert_eq!(rest, "postgresql://db/k?connect_timeout=5");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(roots, Some(PathBuf::from("/etc/ca.pem")));
    }
}
