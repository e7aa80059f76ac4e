//! A real rsyslogd for tests (Debian's `rsyslog` package; tests/run-all.sh
//! installs it). `Rsyslog::start()` runs it in the foreground with a
//! private configuration (never /etc/rsyslog.conf), pid file, work
//! directory and sockets in a temporary directory: `imuxsock` on a private
//! datagram socket with the special parser off (so the RFC 5424 parser
//! reads what arrives), `imptcp` on a private Unix stream socket, `imtcp`
//! and `imudp` on 127.0.0.1 at free ports. Every message is written as one
//! `%jsonmesg%` line (the fields rsyslog parsed); `received()` /
//! `wait_for()` read them back, with the structured data split by
//! `parse_sd` (a reading of RFC 5424 §6.3 of its own). rsyslogd keeps its
//! default maximum message size (8 KiB). Dropping the guard stops it
//! (SIGTERM, then SIGKILL), also when a test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Rsyslog {
    child: Child,
    dir: tempfile::TempDir,
    /// imuxsock: a datagram socket, as /dev/log is.
    pub unix_dgram: PathBuf,
    /// imptcp on a Unix stream socket (octet-counted frames).
    pub unix_stream: PathBuf,
    /// imtcp on 127.0.0.1 (octet-counted frames).
    pub tcp_port: u16,
    /// imudp on 127.0.0.1.
    pub udp_port: u16,
}

/// One message as rsyslog parsed it.
#[derive(Clone, Debug)]
pub struct Received {
    /// `imuxsock`, `imptcp`, `imtcp` or `imudp`.
    pub input: String,
    pub pri: u16,
    /// TIMESTAMP as sent (rsyslog's `timereported`).
    pub time: String,
    pub hostname: String,
    pub app_name: String,
    pub procid: String,
    pub msgid: String,
    /// STRUCTURED-DATA as received (`-` or the elements).
    pub structured_data: String,
    /// MSG with the UTF-8 BOM removed.
    pub msg: String,
    /// Whether MSG started with the BOM.
    pub bom: bool,
    pub json: serde_json::Value,
}

impl Received {
    /// The parameters of the SD element `id`, in order.
    pub fn params(&self, id: &str) -> Vec<(String, String)> {
        parse_sd(&self.structured_data)
            .into_iter()
            .find(|(i, _)| i == id)
            .map(|(_, p)| p)
            .unwrap_or_default()
    }

    /// The values of parameter `name` of element `id`.
    pub fn values(&self, id: &str, name: &str) -> Vec<String> {
        self.params(id)
            .into_iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v)
            .collect()
    }
}

const BOM: &str = "\u{FEFF}";

impl Rsyslog {
    /// Starts rsyslogd and waits until every input listens; fails the
    /// test, saying why, when it cannot.
    pub fn start() -> Rsyslog {
        let bin = rsyslogd();
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let udp_port = free_udp_port();
        let conf = config(d, udp_port);
        std::fs::write(d.join("rsyslog.conf"), &conf).unwrap();
        let check = Command::new(&bin)
            .args(["-N1", "-f"])
            .arg(d.join("rsyslog.conf"))
            .output()
            .expect("run rsyslogd -N1");
        assert!(
            check.status.success(),
            "rsyslogd refuses the test configuration:\n{}\n{conf}",
            String::from_utf8_lossy(&check.stderr)
        );
        let log = std::fs::File::create(d.join("rsyslogd.log")).unwrap();
        let child = Command::new(&bin)
            .arg("-n")
            .arg("-f")
            .arg(d.join("rsyslog.conf"))
            .arg("-i")
            .arg(d.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut r = Rsyslog {
            child,
            unix_dgram: d.join("log.sock"),
            unix_stream: d.join("stream.sock"),
            tcp_port: 0,
            udp_port,
            dir,
        };
        r.tcp_port = r.wait_ready(Duration::from_secs(20));
        r
    }

    /// The temporary directory (config, output, rsyslogd's own log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What rsyslogd itself printed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("rsyslogd.log")).unwrap_or_default()
    }

    /// Waits for the sockets and the TCP port file; returns the TCP port.
    fn wait_ready(&mut self, limit: Duration) -> u16 {
        let t = Instant::now();
        let port_file = self.dir().join("tcp.port");
        loop {
            let port = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse::<u16>().ok());
            if let (Some(port), true, true) =
                (port, self.unix_dgram.exists(), self.unix_stream.exists())
            {
                return port;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "rsyslogd exited ({status}) before listening:\n{}",
                    self.log()
                );
            }
            assert!(
                t.elapsed() < limit,
                "rsyslogd not listening within {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every message received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        // Lossy: rsyslog's imptcp on a Unix socket writes a `fromhost-ip`
        // of raw bytes (no address); the fields compared are whole.
        let bytes = std::fs::read(self.dir().join("out.json")).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| l.ends_with('}'))
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("rsyslog wrote a line that is not JSON ({e}): {l}"));
                received(v)
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived; fails the test with
    /// what did arrive otherwise.
    pub fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let t = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            if t.elapsed() >= limit {
                let out = std::fs::read(self.dir().join("out.json")).unwrap_or_default();
                let tail = String::from_utf8_lossy(&out[out.len().saturating_sub(4000)..]);
                panic!(
                    "{} of {n} messages reached rsyslog within {limit:?}: {got:#?}\n\
                     out.json ends:\n{tail}\nrsyslogd:\n{}",
                    got.len(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child; no memory is shared.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// rsyslogd from PATH or /usr/sbin; fails the test saying what to install.
fn rsyslogd() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")]);
    for dir in candidates {
        let bin = dir.join("rsyslogd");
        if bin.is_file() {
            return bin;
        }
    }
    panic!("rsyslogd is not installed: the syslog tests need Debian's rsyslog package (tests/run-all.sh installs it)");
}

/// A UDP port free on 127.0.0.1 now (imudp writes no port file).
fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    s.local_addr().unwrap().port()
}

/// The private configuration: inputs, and every message as JSON.
fn config(d: &Path, udp_port: u16) -> String {
    let p = |name: &str| d.join(name).display().to_string();
    format!(
        r#"global(workDirectory="{work}")
module(load="imuxsock" SysSock.Use="off")
module(load="imptcp")
module(load="imtcp")
module(load="imudp")
input(type="imuxsock" Socket="{dgram}" UseSpecialParser="off" IgnoreTimestamp="off" RateLimit.Interval="0")
input(type="imptcp" path="{stream}" unlink="on")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="{port}")
input(type="imudp" address="127.0.0.1" port="{udp_port}")
template(name="json" type="string" string="%jsonmesg%\n")
action(type="omfile" file="{out}" template="json")
"#,
        work = d.display(),
        dgram = p("log.sock"),
        stream = p("stream.sock"),
        port = p("tcp.port"),
        out = p("out.json"),
    )
}

fn received(v: serde_json::Value) -> Received {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let msg = s("msg");
    let (bom, msg) = match msg.strip_prefix(BOM) {
        Some(m) => (true, m.to_string()),
        None => (false, msg),
    };
    Received {
        input: s("inputname"),
        pri: s("pri").parse().unwrap_or(u16::MAX),
        time: s("timereported"),
        hostname: s("hostname"),
        app_name: s("app-name"),
        procid: s("procid"),
        msgid: s("msgid"),
        structured_data: s("structured-data"),
        msg,
        bom,
        json: v,
    }
}

/// The SD elements of STRUCTURED-DATA (`-` gives none): each SD-ID with
/// its parameters in order, values unescaped. Panics on text that breaks
/// the grammar.
pub fn parse_sd(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    if text == "-" {
        return out;
    }
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        assert_eq!(c, '[', "an SD element starts with [: {text}");
        let mut id = String::new();
        while let Some(&c) = chars.peek() {
            if c == ' ' || c == ']' {
                break;
            }
            id.push(c);
            chars.next();
        }
        let mut params = Vec::new();
        loop {
            match chars.next() {
                Some(']') => break,
                Some(' ') => params.push(sd_param(&mut chars, text)),
                other => panic!("unexpected {other:?} in SD element: {text}"),
            }
        }
        out.push((id, params));
    }
    out
}

fn sd_param(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, text: &str) -> (String, String) {
    let mut name = String::new();
    for c in chars.by_ref() {
        if c == '=' {
            break;
        }
        assert!(
            c.is_ascii_graphic() && !matches!(c, ']' | '"'),
            "bad SD-NAME character {c:?}: {text}"
        );
        name.push(c);
    }
    assert!((1..=32).contains(&name.len()), "SD-NAME length: {text}");
    assert_eq!(chars.next(), Some('"'), "a value starts with \": {text}");
    let mut value = String::new();
    loop {
        match chars.next() {
            Some('\\') => match chars.next() {
                Some(c @ ('"' | '\\' | ']')) => value.push(c),
                Some(c) => {
                    value.push('\\');
                    value.push(c);
                }
                None => panic!("unterminated value: {text}"),
            },
            Some('"') => return (name, value),
            Some(']') => panic!("unescaped ] in a value: {text}"),
            Some(c) => value.push(c),
            None => panic!("unterminated value: {text}"),
        }
    }
}
