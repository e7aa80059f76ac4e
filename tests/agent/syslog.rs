//! Syslog received by a real rsyslogd (tests/support/rsyslog.rs: private
//! config and sockets, RFC 5424 parser): kensa's messages sent over every
//! transport (Unix datagram as /dev/log is, Unix stream, TCP, UDP) are
//! parsed back field by field, hostile names and an oversized message
//! included; the agent's live `[syslog]` sink sends an EICAR finding on a
//! medium to rsyslog's Unix socket, and carries on (dropping and counting)
//! when nothing listens.

use crate::agent::{require_root, wait_journal, Agent, MountGuard};
use crate::support::rsyslog::{Received, Rsyslog};
use crate::support::*;
use kensa::findings::{Finding, Medium};
use kensa::forward::syslog::{
    finding_message, Facility, Message, Sender, Severity, Target, MAX_MESSAGE, SD_ID,
};
use kensa::output::sanitize;
use std::process::Command;
use std::time::Duration;

/// A finding as a hostile collector record could hold it: a raw newline,
/// `]`, `"`, `\` and Japanese in the path, rule names with the same.
fn hostile_finding() -> Finding {
    serde_json::from_value(serde_json::json!({
        "v": 1, "id": "f-1", "session": "s-1",
        "time": "2024-04-01T09:00:00.123Z", "location": "removable",
        "path": "/media/usb/evil ]\"\\ \n感染.exe", "size": 68,
        "sha256": EICAR_SHA256, "verdict": "malicious",
        "matches": [
            {"kind": "yara", "rule": "EICAR", "namespace": "default"},
            {"kind": "hash", "rule": "bad \"list\" ] entry\\", "namespace": "hashes"}
        ],
        "taxonomy": {"event": "precursor", "causes": ["suspicious_file"]}
    }))
    .unwrap()
}

/// The three messages each transport carries: a hostile finding, one far
/// over the size limit, and one with every field empty.
fn messages() -> Vec<Message> {
    let medium = Medium {
        mount_point: "/media/usb".into(),
        label: Some("VEND]\"OR\\".into()),
        serial: Some("0123".into()),
        ..Medium::default()
    };
    let hostile =
        finding_message(&hostile_finding(), "agent-1").with_origin("plant-pc 工場", Some(&medium));
    let mut huge = hostile.clone();
    huge.msg = "長".repeat(20_000);
    for i in 0..40 {
        huge.param("rule", format!("ns:{}{i}", "r".repeat(500)));
    }
    let empty = Message {
        severity: Severity::Debug,
        facility: Facility::Local7,
        ..Message::default()
    };
    vec![hostile, huge, empty]
}

/// Header fields as kensa sends them (PRINTUSASCII, `_` for the rest).
fn header(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect()
}

/// What rsyslog parsed equals what was sent.
fn check_hostile(got: &Received, sent: &Message) {
    let what = &got.input;
    assert_eq!(got.pri, 4 * 8 + 2, "{what}");
    assert_eq!(got.time, sent.time, "{what}");
    assert_eq!(got.hostname, header(&sent.hostname), "{what}");
    assert_eq!(got.hostname, "plant-pc___");
    assert_eq!(
        (
            got.app_name.as_str(),
            got.procid.as_str(),
            got.msgid.as_str()
        ),
        ("kensa", "-", "finding"),
        "{what}"
    );
    let want: Vec<(String, String)> = sent
        .structured
        .iter()
        .map(|(n, v)| (n.clone(), sanitize(v).into_owned()))
        .collect();
    assert_eq!(got.params(SD_ID), want, "{what}");
    assert_eq!(
        got.values(SD_ID, "path"),
        ["/media/usb/evil ]\"\\ \\x0A感染.exe"]
    );
    assert_eq!(
        got.values(SD_ID, "rule"),
        ["default:EICAR", "hashes:bad \"list\" ] entry\\"]
    );
    assert!(got.bom, "{what}: MSG starts with the BOM");
    assert_eq!(got.msg, sanitize(&sent.msg), "{what}");
    assert_eq!(
        got.msg,
        "malicious file /media/usb/evil ]\"\\ \\x0A感染.exe (rule default:EICAR, 1 more)"
    );
}

/// The oversized message arrived whole (rsyslog did not cut it), cut by
/// kensa to the limit and marked.
fn check_huge(got: &Received, sent: &Message) {
    let wire = sent.to_rfc5424();
    assert!(wire.len() <= MAX_MESSAGE);
    assert_eq!(
        got.json["rawmsg"].as_str().unwrap().as_bytes(),
        wire,
        "{}",
        got.input
    );
    let params = got.params(SD_ID);
    assert_eq!(
        params.last().unwrap(),
        &("truncated".to_string(), "true".to_string())
    );
    assert!(params.len() > 20, "most parameters fit");
    assert!(!got.msg.is_empty() && got.msg.chars().all(|c| c == '長'));
}

fn check_empty(got: &Received) {
    assert_eq!(got.pri, 23 * 8 + 7, "{}", got.input);
    assert_eq!(got.structured_data, "-");
    assert_eq!((got.app_name.as_str(), got.msgid.as_str()), ("-", "-"));
    assert!(got.msg.is_empty() && !got.bom);
}

#[test]
fn messages_parse_back_in_rsyslog_over_every_transport() {
    let rs = Rsyslog::start();
    let targets = [
        ("imuxsock", format!("unix:{}", rs.unix_dgram.display())),
        ("imptcp", format!("unix:{}", rs.unix_stream.display())),
        ("imtcp", format!("tcp:127.0.0.1:{}", rs.tcp_port)),
        ("imudp", format!("udp:127.0.0.1:{}", rs.udp_port)),
    ];
    let sent = messages();
    for (_, t) in &targets {
        let mut s = Sender::connect(&t.parse::<Target>().unwrap()).unwrap();
        for m in &sent {
            s.send(m).unwrap_or_else(|e| panic!("{t}: {e}"));
        }
    }
    let got = rs.wait_for(targets.len() * sent.len(), Duration::from_secs(20));
    for (input, _) in &targets {
        let mine: Vec<&Received> = got.iter().filter(|r| r.input == *input).collect();
        assert_eq!(mine.len(), sent.len(), "{input}: {got:#?}");
        check_hostile(mine[0], &sent[0]);
        check_huge(mine[1], &sent[1]);
        check_empty(mine[2]);
    }
}

/// The agent's configuration with the syslog sink on.
fn agent_config(env: &TestEnv, socket: &std::path::Path) {
    let mut text = std::fs::read_to_string(&env.config).unwrap();
    text.push_str(&format!(
        "[syslog]\nenabled = true\nsocket = \"{}\"\nfacility = \"local3\"\n",
        socket.display()
    ));
    std::fs::write(&env.config, text).unwrap();
}

/// A tmpfs mounted below the media root: a medium to the agent.
fn tmpfs_medium(env: &TestEnv) -> (std::path::PathBuf, MountGuard) {
    let media = env.base().join("media");
    let mp = media.join("stick");
    std::fs::create_dir_all(&mp).unwrap();
    run_ok(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "kensa-test"])
            .arg(&mp),
    );
    (media, MountGuard(mp))
}

#[test]
fn agent_sends_an_eicar_finding_to_rsyslog_as_it_happens() {
    require_root();
    let rs = Rsyslog::start();
    let env = TestEnv::new();
    agent_config(&env, &rs.unix_dgram);
    let (media, guard) = tmpfs_medium(&env);
    let mut agent = Agent::start(&env, &media, &[]);
    assert!(
        agent
            .log_text()
            .contains("syslog: sending findings to unix:"),
        "{}",
        agent.log_text()
    );
    std::fs::write(guard.0.join("evil ]\"\\\n感染.com"), eicar()).unwrap();
    let (recs, _) = wait_journal(&env.state, Duration::from_secs(20), "EICAR finding", |r| {
        r.iter().any(|x| x["type"] == "finding")
    });
    let f = recs.iter().find(|r| r["type"] == "finding").unwrap();
    let session = recs
        .iter()
        .find(|r| r["type"] == "session" && r["id"] == f["session"])
        .unwrap();
    let got = rs.wait_for(1, Duration::from_secs(10));
    let m = &got[0];
    assert_eq!(m.input, "imuxsock");
    assert_eq!(m.pri, 19 * 8 + 2, "local3, critical");
    assert_eq!(m.time, f["time"].as_str().unwrap().replace("+00:00", "Z"));
    assert_eq!(m.hostname, header(session["host"].as_str().unwrap()));
    let p = |k: &str| m.values(SD_ID, k);
    let s = |v: &serde_json::Value| vec![v.as_str().unwrap().to_string()];
    assert_eq!(p("agent"), s(&session["agent"]));
    assert_eq!(p("session"), s(&f["session"]));
    assert_eq!(p("finding"), s(&f["id"]));
    assert_eq!(p("path"), s(&f["path"]));
    assert!(
        p("path")[0].ends_with("/evil ]\"\\\\\\x0A感染.com"),
        "{:?}",
        p("path")
    );
    assert_eq!(p("sha256"), [EICAR_SHA256]);
    assert_eq!(p("size"), ["68"]);
    assert_eq!(p("verdict"), ["malicious"]);
    assert_eq!(p("location"), ["removable"]);
    assert_eq!(p("event"), s(&f["taxonomy"]["event"]));
    assert_eq!(p("mount_point"), s(&session["medium"]["mount_point"]));
    assert_eq!(p("medium_fs"), ["tmpfs"]);
    let rules: Vec<String> = f["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            format!(
                "{}:{}",
                x["namespace"].as_str().unwrap(),
                x["rule"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(p("rule"), rules);
    assert!(
        m.msg
            .starts_with(&format!("malicious file {}", f["path"].as_str().unwrap())),
        "{}",
        m.msg
    );
    let (status, _) = agent.terminate(Duration::from_secs(15));
    assert!(status.success());
    assert!(
        !agent.log_text().contains("dropped"),
        "{}",
        agent.log_text()
    );
}

#[test]
fn agent_carries_on_and_counts_drops_when_syslog_is_down() {
    let env = TestEnv::new();
    let absent = env.base().join("no-syslog.sock");
    agent_config(&env, &absent);
    let media = env.base().join("media");
    let watched = env.base().join("incoming");
    std::fs::create_dir_all(&media).unwrap();
    std::fs::create_dir_all(&watched).unwrap();
    let mut agent = Agent::start(&env, &media, &["--watch", watched.to_str().unwrap()]);
    assert!(
        agent
            .log_text()
            .contains("syslog: cannot connect to syslog at unix:"),
        "{}",
        agent.log_text()
    );
    std::fs::write(watched.join("eicar.com"), eicar()).unwrap();
    wait_journal(&env.state, Duration::from_secs(20), "EICAR finding", |r| {
        r.iter().any(|x| x["type"] == "finding")
    });
    let (status, _) = agent.terminate(Duration::from_secs(15));
    assert!(status.success());
    let log = agent.log_text();
    assert!(
        log.contains("syslog: 1 finding message(s)") && log.contains("dropped"),
        "{log}"
    );
}
