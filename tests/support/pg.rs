//! A real PostgreSQL server for the tests (Debian's `postgresql` package,
//! binaries under /usr/lib/postgresql/N/bin), started once per test binary
//! on first use: `initdb` and `pg_ctl` in a temporary directory, listening
//! only on a Unix socket in that directory (`listen_addresses = ''`), with
//! password authentication (scram-sha-256) for every connection. As root
//! (CI) the server runs as the `postgres` system user (initdb refuses
//! root). A guardian process started beside it waits for the test process
//! to end (a pipe it reads closes then; a test binary runs no static
//! destructors) and stops the server and removes the directory. Each
//! [`Server::database`] is a new database owned by the role `kensa`, whose
//! password the tests hand to kensa in a `PGPASSFILE`. A missing package
//! fails the test saying so.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// The role kensa connects as, and its password.
pub const ROLE: &str = "kensa";
const ROLE_PASSWORD: &str = "kensa-test-password";
/// The superuser initdb creates, and its password.
const ADMIN: &str = "kensa_admin";
const ADMIN_PASSWORD: &str = "kensa-admin-password";
/// The port only names the socket file (`.s.PGSQL.5432`).
const PORT: u16 = 5432;

/// The running server.
pub struct Server {
    base: PathBuf,
    socket_dir: PathBuf,
    /// A libpq password file with the role's password (mode 0600).
    pub pgpass: PathBuf,
    /// A file holding only the role's password (mode 0600).
    pub password_file: PathBuf,
    admin: Mutex<postgres::Client>,
    /// The guardian, its stdin held open for the life of the process: it
    /// stops the server when it reads end-of-file.
    _guardian: Child,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The server of this test binary, started on first use.
pub fn server() -> &'static Server {
    SERVER.get_or_init(start)
}

/// The newest `bin` directory of the `postgresql` package.
fn bin_dir() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let v = e.file_name().to_str()?.parse().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("initdb").is_file().then_some((v, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): install the Debian package `postgresql` (tests/run-all.sh does)"
        ),
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A command of the server's binaries, as the `postgres` user when root.
fn pg_command(bin: &Path, tool: &str, base: &Path) -> Command {
    let mut c = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    };
    c.current_dir(base);
    c
}

/// Hands `path` to the `postgres` user when running as root.
fn give(path: &Path) {
    if is_root() {
        super::run_tool(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(path),
            "coreutils",
        );
    }
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn start() -> Server {
    let bin = bin_dir();
    let base = tempfile::Builder::new()
        .prefix("kensa-pg-")
        .tempdir()
        .expect("temp dir")
        .keep();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (data, socket_dir) = (base.join("data"), base.join("socket"));
    std::fs::create_dir(&socket_dir).unwrap();
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    give(&data);
    let log_dir = base.join("log");
    std::fs::create_dir(&log_dir).unwrap();
    give(&log_dir);
    let log = log_dir.join("server.log");
    let pwfile = base.join("admin-password");
    write_private(&pwfile, ADMIN_PASSWORD);
    give(&socket_dir);
    give(&pwfile);
    let mut init = pg_command(&bin, "initdb", &base);
    init.arg("-D")
        .arg(&data)
        .args([
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ])
        .arg(format!("--username={ADMIN}"))
        .arg(format!("--pwfile={}", pwfile.display()));
    super::run_tool(&mut init, "postgresql");
    let conf = format!(
        "listen_addresses = ''\nunix_socket_directories = '{}'\nport = {PORT}\nmax_connections = 200\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
        socket_dir.display()
    );
    std::fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .and_then(|mut f| f.write_all(conf.as_bytes()))
        .unwrap();
    let guardian = guardian(&bin, &base, &data);
    let mut ctl = pg_command(&bin, "pg_ctl", &base);
    ctl.arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .args(["-w", "-t", "60", "start"]);
    let out = ctl.output().expect("pg_ctl");
    assert!(
        out.status.success(),
        "pg_ctl start failed: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let mut admin = admin_client(&socket_dir);
    admin
        .batch_execute(&format!(
            "CREATE ROLE {ROLE} LOGIN PASSWORD '{ROLE_PASSWORD}'"
        ))
        .expect("create role");
    let pgpass = base.join("pgpass");
    write_private(
        &pgpass,
        &format!("localhost:{PORT}:*:{ROLE}:{ROLE_PASSWORD}\n"),
    );
    let password_file = base.join("password");
    write_private(&password_file, &format!("{ROLE_PASSWORD}\n"));
    Server {
        base,
        socket_dir,
        pgpass,
        password_file,
        admin: Mutex::new(admin),
        _guardian: guardian,
    }
}

/// Starts the process that stops the server and removes `base` once the
/// test process is gone (its end of the pipe closes). In its own process
/// group, so a Ctrl-C of the test run does not stop it first.
fn guardian(bin: &Path, base: &Path, data: &Path) -> Child {
    use std::os::unix::process::CommandExt;
    let as_postgres = if is_root() {
        "runuser -u postgres -- "
    } else {
        ""
    };
    let script = format!(
        "cat >/dev/null; {as_postgres}'{}' -D '{}' -m immediate -t 30 stop >/dev/null 2>&1; rm -rf '{}'",
        bin.join("pg_ctl").display(),
        data.display(),
        base.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start the PostgreSQL guardian (sh)")
}

fn admin_client(socket_dir: &Path) -> postgres::Client {
    let mut c = postgres::Config::new();
    c.host_path(socket_dir)
        .port(PORT)
        .user(ADMIN)
        .password(ADMIN_PASSWORD)
        .dbname("postgres")
        .connect_timeout(std::time::Duration::from_secs(30));
    c.connect(postgres::NoTls)
        .expect("connect as the test superuser")
}

impl Server {
    /// A new, empty database owned by the kensa role; returns its URL
    /// (no password in it).
    pub fn database(&self) -> String {
        let name = format!(
            "kensa_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        self.admin
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .batch_execute(&format!("CREATE DATABASE {name} OWNER {ROLE}"))
            .expect("create database");
        self.url(&name)
    }

    /// The URL of database `name` as the kensa role, over the socket.
    pub fn url(&self, name: &str) -> String {
        let dir: String = self
            .socket_dir
            .to_str()
            .expect("UTF-8 temp dir")
            .replace('/', "%2F");
        format!("postgresql://{ROLE}@{dir}:{PORT}/{name}")
    }

    /// The server's directory (data, socket, log).
    pub fn base(&self) -> &Path {
        &self.base
    }
}

impl Server {
    /// Whether database `name` holds kensa's schema table.
    pub fn has_schema(&self, name: &str) -> bool {
        let mut c = postgres::Config::new();
        c.host_path(&self.socket_dir)
            .port(PORT)
            .user(ADMIN)
            .password(ADMIN_PASSWORD)
            .dbname(name)
            .connect_timeout(std::time::Duration::from_secs(30));
        let mut client = c
            .connect(postgres::NoTls)
            .expect("connect as the test superuser");
        let row = client
            .query_one("SELECT to_regclass('kensa_schema') IS NOT NULL", &[])
            .expect("query");
        row.get(0)
    }
}
