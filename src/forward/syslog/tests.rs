//! Unit tests of the syslog module: encoding (limits, escaping, hostile
//! field contents), framing, destinations, and sending over real local
//! sockets.

use super::*;
use crate::findings::{Classification, Location, Match, Record};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::time::Duration;

/// A message parsed back from the wire by the RFC 5424 grammar (a second
/// reading, independent of the encoder).
#[derive(Debug)]
struct Parsed {
    pri: u16,
    header: Vec<String>,
    sd_id: Option<String>,
    params: Vec<(String, String)>,
    msg: Vec<u8>,
}

fn parse(wire: &[u8]) -> Parsed {
    let text = std::str::from_utf8(wire).expect("the whole message is UTF-8");
    assert!(text.starts_with('<'), "{text}");
    let (pri, rest) = text[1..].split_once(">1 ").expect("PRI and version");
    let mut rest = rest;
    let mut header = Vec::new();
    for _ in 0..5 {
        let (field, more) = rest.split_once(' ').expect("header field");
        assert!(!field.is_empty() && field.bytes().all(|b| (33..=126).contains(&b)));
        header.push(field.to_string());
        rest = more;
    }
    let (sd_id, params, rest) = parse_sd(rest);
    let msg = match rest.strip_prefix(' ') {
        Some(m) => m.as_bytes().to_vec(),
        None => {
            assert!(rest.is_empty(), "garbage after SD: {rest:?}");
            Vec::new()
        }
    };
    Parsed {
        pri: pri.parse().unwrap(),
        header,
        sd_id,
        params,
        msg,
    }
}

/// `-` or one `[ID NAME="VALUE"...]` element; the rest of the text.
fn parse_sd(s: &str) -> (Option<String>, Vec<(String, String)>, &str) {
    if let Some(rest) = s.strip_prefix('-') {
        return (None, Vec::new(), rest);
    }
    let body = s.strip_prefix('[').expect("SD element");
    let id_end = body.find([' ', ']']).unwrap();
    let id = body[..id_end].to_string();
    let mut chars = body[id_end..].char_indices().peekable();
    let mut params = Vec::new();
    loop {
        let (i, c) = chars.next().expect("unterminated SD element");
        if c == ']' {
            return (Some(id), params, &body[id_end + i + 1..]);
        }
        assert_eq!(c, ' ');
        let mut name = String::new();
        for (_, c) in chars.by_ref() {
            if c == '=' {
                break;
            }
            assert!(c.is_ascii_graphic() && !matches!(c, ']' | '"' | ' '));
            name.push(c);
        }
        assert!((1..=32).contains(&name.len()), "{name}");
        assert_eq!(chars.next().map(|x| x.1), Some('"'));
        let mut value = String::new();
        loop {
            match chars.next().expect("unterminated value").1 {
                '\\' => value.push(chars.next().unwrap().1),
                '"' => break,
                ']' => panic!("unescaped ] in a value"),
                c => value.push(c),
            }
        }
        params.push((name, value));
    }
}

fn bom_msg(p: &Parsed) -> String {
    let m = p.msg.strip_prefix(b"\xEF\xBB\xBF".as_slice()).expect("BOM");
    String::from_utf8(m.to_vec()).unwrap()
}

fn sample() -> Message {
    Message {
        severity: Severity::Critical,
        time: "2024-01-02T03:04:05.123Z".into(),
        hostname: "plant-pc1".into(),
        app_name: "kensa".into(),
        msgid: "finding".into(),
        structured: vec![("a".into(), "1".into()), ("b".into(), r#"x"y\z]w"#.into())],
        msg: "hello".into(),
        facility: Facility::Auth,
    }
}

#[test]
fn exact_form_of_a_plain_message() {
    let wire = sample().to_rfc5424();
    let want = "<34>1 2024-01-02T03:04:05.123Z plant-pc1 kensa - finding \
                [kensa@32473 a=\"1\" b=\"x\\\"y\\\\z\\]w\"] \u{FEFF}hello";
    assert_eq!(String::from_utf8(wire).unwrap(), want);
}

#[test]
fn empty_fields_are_nil_and_an_empty_msg_is_left_out() {
    let m = Message::default();
    assert_eq!(m.to_rfc5424(), b"<37>1 - - - - - -");
    let p = parse(&m.to_rfc5424());
    assert_eq!(p.header, ["-", "-", "-", "-", "-"]);
    assert!(p.sd_id.is_none() && p.msg.is_empty());
}

#[test]
fn pri_is_facility_times_eight_plus_severity() {
    let mut m = sample();
    for (f, s, pri) in [
        (Facility::Kern, Severity::Emergency, 0),
        (Facility::Auth, Severity::Critical, 34),
        (Facility::Local0, Severity::Warning, 132),
        (Facility::Local7, Severity::Debug, 191),
    ] {
        m.facility = f;
        m.severity = s;
        assert_eq!(parse(&m.to_rfc5424()).pri, pri);
    }
}

#[test]
fn hostile_header_fields_stay_within_the_grammar() {
    let mut m = sample();
    m.hostname = "host name\nwith ]\"[ and 工場".into();
    m.app_name = "a".repeat(100);
    m.msgid = "id with spaces and more than thirty-two characters".into();
    m.time = "yesterday".into();
    let p = parse(&m.to_rfc5424());
    assert_eq!(p.header[0], "-", "not a time: the receiver's");
    assert_eq!(p.header[1], "host_name_with_]\"[_and___");
    assert_eq!(p.header[2], "a".repeat(48));
    assert_eq!(p.header[4], "id_with_spaces_and_more_than_thi");
    m.hostname = "h".repeat(300);
    assert_eq!(parse(&m.to_rfc5424()).header[1].len(), 255);
}

#[test]
fn timestamps_follow_rfc5424() {
    for (given, sent) in [
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),
        (
            "2024-01-02T03:04:05.5+09:00",
            "2024-01-02T03:04:05.500+09:00",
        ),
        (
            "2024-01-02T03:04:05.123456789+09:00",
            "2024-01-02T03:04:05.123456+09:00",
        ),
        ("2024-01-02t03:04:05+00:00", "2024-01-02T03:04:05Z"),
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999Z"),
        ("", "-"),
        ("2024-13-02T03:04:05Z", "-"),
    ] {
        let mut m = sample();
        m.time = given.into();
        assert_eq!(parse(&m.to_rfc5424()).header[0], sent, "{given}");
    }
}

#[test]
fn sd_names_and_values_are_made_valid() {
    let mut m = sample();
    m.structured = vec![
        ("a=b]\" c".into(), "v".into()),
        (String::new(), "empty name".into()),
        ("n".repeat(40), "long name".into()),
        ("ctl".into(), "line1\nline2\t\u{1b}[31m \u{202E}".into()),
        ("ja".into(), "ファイル ]\"\\".into()),
        ("rep".into(), "1".into()),
        ("rep".into(), "2".into()),
    ];
    let p = parse(&m.to_rfc5424());
    assert_eq!(p.sd_id.as_deref(), Some(SD_ID));
    let names: Vec<&str> = p.params.iter().map(|(n, _)| n.as_str()).collect();
    let long = "n".repeat(32);
    assert_eq!(
        names,
        ["a_b___c", "_", long.as_str(), "ctl", "ja", "rep", "rep"]
    );
    assert_eq!(p.params[3].1, "line1\\x0Aline2\\x09\\x1B[31m \\u{202E}");
    assert_eq!(p.params[4].1, "ファイル ]\"\\");
}

#[test]
fn msg_is_utf8_with_bom_and_controls_made_visible() {
    let mut m = sample();
    m.msg = "感染 file\r\nFAKE: line ]\"".into();
    let p = parse(&m.to_rfc5424());
    assert_eq!(bom_msg(&p), "感染 file\\x0D\\x0AFAKE: line ]\"");
}

#[test]
fn long_messages_are_cut_to_the_limit_and_marked() {
    let mut m = sample();
    m.msg = "長".repeat(100_000);
    let wire = m.to_rfc5424();
    assert!(wire.len() <= MAX_MESSAGE, "{}", wire.len());
    assert!(wire.len() > MAX_MESSAGE - 8, "cut close to the limit");
    let p = parse(&wire);
    assert!(bom_msg(&p).chars().all(|c| c == '長'));
    assert_eq!(
        p.params.last().unwrap(),
        &("truncated".into(), "true".into())
    );

    let mut m = sample();
    m.structured = (0..20)
        .map(|i| (format!("p{i}"), "]".repeat(5000)))
        .collect();
    let wire = m.to_rfc5424();
    assert!(wire.len() <= MAX_MESSAGE, "{}", wire.len());
    let p = parse(&wire);
    assert_eq!(p.params.first().unwrap().1, "]".repeat(2048));
    assert_eq!(
        p.params.last().unwrap(),
        &("truncated".into(), "true".into())
    );
    assert_eq!(bom_msg(&p), "hello", "MSG still fits");

    let small = sample().to_rfc5424();
    assert!(!parse(&small).params.iter().any(|(n, _)| n == "truncated"));
}

#[test]
fn octet_counting_frames() {
    assert_eq!(octet_counted(b"hello"), b"5 hello");
    let wire = sample().to_rfc5424();
    let framed = octet_counted(&wire);
    let (len, rest) = std::str::from_utf8(&framed)
        .unwrap()
        .split_once(' ')
        .unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), rest.len());
}

#[test]
fn targets_parse_and_print() {
    for (text, want) in [
        ("unix:/dev/log", Target::Unix("/dev/log".into())),
        (
            "tcp:siem.example:6514",
            Target::Tcp {
                host: "siem.example".into(),
                port: 6514,
            },
        ),
        (
            "udp:192.0.2.1:514",
            Target::Udp {
                host: "192.0.2.1".into(),
                port: 514,
            },
        ),
        (
            "tcp:[::1]:514",
            Target::Tcp {
                host: "::1".into(),
                port: 514,
            },
        ),
    ] {
        let t: Target = text.parse().unwrap();
        assert_eq!(t, want);
        assert_eq!(t.to_string(), text);
    }
    for (bad, says) in [
        ("/dev/log", "expected unix:PATH"),
        ("file:/x", "unknown kind"),
        ("unix:", "no socket path"),
        ("tcp:host", "no :PORT"),
        ("tcp:::1:514", "in brackets"),
        ("tcp:[::1]514", "followed by :PORT"),
        ("tcp:[nope]:514", "not an IPv6"),
        ("udp:host:0", "1 to 65535"),
        ("udp:host:99999", "1 to 65535"),
        ("tcp::514", "must be a name"),
        ("tcp:a b:514", "must be a name"),
    ] {
        let e = bad.parse::<Target>().unwrap_err().to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
    let long = format!("unix:/{}", "x".repeat(200));
    assert!(long
        .parse::<Target>()
        .unwrap_err()
        .to_string()
        .contains("107"));
}

#[test]
fn facility_names_codes_and_serde_agree() {
    for (i, f) in FACILITIES.iter().enumerate() {
        assert_eq!(usize::from(f.code()), i);
        assert_eq!(f.name().parse::<Facility>().unwrap(), *f);
        assert_eq!(
            serde_json::to_string(f).unwrap(),
            format!("\"{}\"", f.name())
        );
    }
    assert_eq!(Facility::default(), Facility::Auth);
    assert_eq!(Facility::Auth.code(), 4);
    assert_eq!(Facility::Local0.code(), 16);
    assert!("security"
        .parse::<Facility>()
        .unwrap_err()
        .to_string()
        .contains("local7"));
}

fn finding() -> Finding {
    Finding {
        v: 1,
        id: "f1".into(),
        session: "s1".into(),
        time: "2024-04-01T09:00:00.000Z".into(),
        location: Location::Removable,
        path: "/media/usb/a\\x0Ab].exe".into(),
        chain: Vec::new(),
        size: 68,
        sha256: "ab".repeat(32),
        md5: None,
        sha1: None,
        verdict: Verdict::Malicious,
        matches: ["EICAR", "Other"]
            .iter()
            .map(|r| Match {
                kind: "yara".into(),
                rule: r.to_string(),
                namespace: "default".into(),
                tags: Vec::new(),
                meta: Default::default(),
            })
            .collect(),
        attributes: Vec::new(),
        packed: None,
        taxonomy: Some(Classification {
            event: crate::findings::Event::Precursor,
            causes: vec![crate::findings::Cause::SuspiciousFile],
        }),
    }
}

#[test]
fn a_finding_message_names_everything_a_siem_filters_on() {
    let medium = Medium {
        mount_point: "/media/usb".into(),
        label: Some("VENDOR\"]".into()),
        serial: Some("1234".into()),
        ..Medium::default()
    };
    let m = finding_message(&finding(), "agent1").with_origin("pc1", Some(&medium));
    let p = parse(&m.to_rfc5424());
    assert_eq!(p.pri, 34);
    assert_eq!(
        p.header,
        ["2024-04-01T09:00:00Z", "pc1", "kensa", "-", "finding"]
    );
    let got: Vec<(&str, &str)> = p
        .params
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let sha = "ab".repeat(32);
    assert_eq!(
        got,
        [
            ("agent", "agent1"),
            ("session", "s1"),
            ("finding", "f1"),
            ("verdict", "malicious"),
            ("location", "removable"),
            ("path", "/media/usb/a\\x0Ab].exe"),
            ("size", "68"),
            ("sha256", sha.as_str()),
            ("rule", "default:EICAR"),
            ("rule", "default:Other"),
            ("event", "precursor"),
            ("cause", "suspicious_file"),
            ("mount_point", "/media/usb"),
            ("medium_label", "VENDOR\"]"),
            ("medium_serial", "1234"),
        ]
    );
    assert_eq!(
        bom_msg(&p),
        "malicious file /media/usb/a\\x0Ab].exe (rule default:EICAR, 1 more)"
    );
}

fn wait_datagram(rx: &UnixDatagram) -> Vec<u8> {
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = rx.recv(&mut buf).expect("a datagram within 5 s");
    buf.truncate(n);
    buf
}

/// Reads one octet-counted frame.
fn read_frame(r: &mut impl std::io::Read) -> Vec<u8> {
    let mut len = Vec::new();
    let mut b = [0u8; 1];
    loop {
        r.read_exact(&mut b).unwrap();
        if b[0] == b' ' {
            break;
        }
        len.push(b[0]);
    }
    let n: usize = std::str::from_utf8(&len).unwrap().parse().unwrap();
    let mut msg = vec![0u8; n];
    r.read_exact(&mut msg).unwrap();
    msg
}

#[test]
fn unix_datagram_and_stream_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let dgram = dir.path().join("dgram.sock");
    let rx = UnixDatagram::bind(&dgram).unwrap();
    let mut s = Sender::connect(&Target::Unix(dgram.clone())).unwrap();
    s.send(&sample()).unwrap();
    assert_eq!(wait_datagram(&rx), sample().to_rfc5424());

    // The receiver restarts (a new socket at the same path): one send
    // fails on the old connection and goes out on a new one.
    drop(rx);
    std::fs::remove_file(&dgram).unwrap();
    let rx = UnixDatagram::bind(&dgram).unwrap();
    s.send(&sample()).unwrap();
    assert_eq!(wait_datagram(&rx), sample().to_rfc5424());

    let stream = dir.path().join("stream.sock");
    let listener = UnixListener::bind(&stream).unwrap();
    let mut s = Sender::connect(&Target::Unix(stream.clone())).unwrap();
    s.send(&sample()).unwrap();
    s.send(&Message::default()).unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(read_frame(&mut conn), sample().to_rfc5424());
    assert_eq!(read_frame(&mut conn), Message::default().to_rfc5424());

    // The receiver closes the stream: noticed before the next write,
    // which goes out on a new connection.
    drop(conn);
    std::thread::sleep(Duration::from_millis(50));
    s.send(&sample()).unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(read_frame(&mut conn), sample().to_rfc5424());
}

#[test]
fn nothing_listening_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let t = Target::Unix(dir.path().join("none.sock"));
    let e = Sender::connect(&t).err().unwrap().to_string();
    assert!(
        e.contains("cannot connect to syslog at unix:") && e.contains("none.sock"),
        "{e}"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = Sender::connect(&format!("tcp:127.0.0.1:{port}").parse().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("cannot connect") && e.contains("refused"), "{e}");
}

#[test]
fn tcp_and_udp() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let mut s = Sender::connect(&format!("tcp:127.0.0.1:{port}").parse().unwrap()).unwrap();
    s.send(&sample()).unwrap();
    let (mut conn, _) = l.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(read_frame(&mut conn), sample().to_rfc5424());
    drop(conn);
    std::thread::sleep(Duration::from_millis(50));
    s.send(&sample()).unwrap();
    let (mut conn, _) = l.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(read_frame(&mut conn), sample().to_rfc5424(), "reconnected");

    let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = u.local_addr().unwrap().port();
    let mut s = Sender::connect(&format!("udp:127.0.0.1:{port}").parse().unwrap()).unwrap();
    s.send(&sample()).unwrap();
    let mut buf = [0u8; 9000];
    let n = u.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], sample().to_rfc5424().as_slice());
    let mut big = sample();
    big.msg = "x".repeat(20_000);
    s.send(&big).unwrap();
    let n = u.recv(&mut buf).unwrap();
    assert!(
        n <= MAX_MESSAGE
            && parse(&buf[..n])
                .params
                .iter()
                .any(|(k, _)| k == "truncated")
    );
}

fn session(id: &str, host: &str) -> crate::findings::Session {
    crate::findings::Session {
        v: 1,
        id: id.into(),
        time: "2024-04-01T09:00:00Z".into(),
        host: host.into(),
        agent: Some("agent1".into()),
        location: Location::Removable,
        paths: vec!["/media/usb".into()],
        medium: Some(Medium {
            mount_point: "/media/usb".into(),
            label: Some("STICK".into()),
            ..Medium::default()
        }),
        ruleset: Default::default(),
        version: "0".into(),
        volumes: Vec::new(),
        archive_unsupported: None,
    }
}

#[test]
fn live_sink_sends_findings_with_their_session_host_and_medium() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sock");
    let rx = UnixDatagram::bind(&path).unwrap();
    let mut live = LiveSink::start(Target::Unix(path.clone()), Facility::Local3, "agent1").unwrap();
    live.record(&Record::Session(session("s1", "plant-pc")));
    live.record(&Record::Finding(finding()));
    let p = parse(&wait_datagram(&rx));
    assert_eq!(p.pri, 19 * 8 + 2);
    assert_eq!(p.header[1], "plant-pc");
    assert!(p.params.contains(&("medium_label".into(), "STICK".into())));
    live.stop();
    assert_eq!(live.counts(), (1, 0));
}

#[test]
fn live_sink_never_blocks_and_counts_what_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.sock");
    let mut live = LiveSink::start(Target::Unix(path), Facility::Auth, "agent1").unwrap();
    let t = std::time::Instant::now();
    for _ in 0..(QUEUE * 3) {
        live.record(&Record::Finding(finding()));
    }
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    live.stop();
    assert_eq!(live.counts(), (0, (QUEUE * 3) as u64));
}
