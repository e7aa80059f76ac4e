//! The RFC 5424 wire form of a [`Message`]: `<PRI>1 TIMESTAMP HOSTNAME
//! APP-NAME PROCID MSGID STRUCTURED-DATA [BOM MSG]`, and the octet-counted
//! framing of RFC 6587 §3.4.1 for streams. Whatever the fields hold, the
//! result parses: header fields keep to PRINTUSASCII and their lengths,
//! SD-NAMEs to their characters, `"` `\` `]` in values are escaped, and
//! control characters in values and MSG are written visibly (as kensa
//! writes names everywhere). The whole message stays within
//! [`MAX_MESSAGE`] bytes; what had to be shortened is marked with the
//! parameter `truncated="true"`.

use super::{Message, SD_ID};
use crate::output::sanitize;
use chrono::{DateTime, Datelike, SecondsFormat, Timelike};

/// Most bytes of one encoded message (framing excluded): below rsyslog's
/// default `maxMessageSize` (8 KiB), so no receiver with default settings
/// cuts a message (and with it the structured data).
pub const MAX_MESSAGE: usize = 8000;
/// Most bytes of the structured-data part.
const MAX_SD: usize = 6144;
/// Most bytes of one parameter value, before escaping.
const MAX_VALUE: usize = 2048;
/// Field lengths of RFC 5424 §6.
const MAX_HOSTNAME: usize = 255;
const MAX_APP_NAME: usize = 48;
const MAX_MSGID: usize = 32;
const MAX_SD_NAME: usize = 32;
/// The UTF-8 byte order mark that starts a Unicode MSG (§6.4).
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// The parameter that marks a shortened message.
const TRUNCATED: &str = " truncated=\"true\"";
const NIL: &str = "-";

impl Message {
    /// This message in RFC 5424 form, without framing (a datagram is one
    /// message; streams add [`octet_counted`] framing).
    pub fn to_rfc5424(&self) -> Vec<u8> {
        let pri = u16::from(self.facility.code()) * 8 + u16::from(self.severity.code());
        let head = format!(
            "<{pri}>1 {} {} {} {NIL} {} ",
            timestamp(&self.time),
            header_field(&self.hostname, MAX_HOSTNAME),
            header_field(&self.app_name, MAX_APP_NAME),
            header_field(&self.msgid, MAX_MSGID),
        );
        let mut sd = Sd::default();
        for (name, value) in &self.structured {
            sd.push(name, value);
        }
        let msg = sanitize(&self.msg);
        let room = MAX_MESSAGE
            .saturating_sub(head.len() + sd.body.len() + SD_ID.len() + 2)
            .saturating_sub(TRUNCATED.len() + 1 + BOM.len());
        let (msg, msg_cut) = cut(&msg, room);
        sd.truncated |= msg_cut;
        let mut out = head.into_bytes();
        sd.write(&mut out);
        if !msg.is_empty() {
            out.push(b' ');
            out.extend_from_slice(BOM);
            out.extend_from_slice(msg.as_bytes());
        }
        out
    }
}

/// `LEN SP MSG`: the octet-counted frame of one message (RFC 6587 §3.4.1).
pub fn octet_counted(msg: &[u8]) -> Vec<u8> {
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg);
    out
}

/// The one SD element being built: its parameters, and whether anything
/// was shortened or left out.
#[derive(Default)]
struct Sd {
    body: String,
    truncated: bool,
}

impl Sd {
    /// Adds ` NAME="VALUE"`, the value cut to [`MAX_VALUE`]; a parameter
    /// that would not fit in [`MAX_SD`] is left out.
    fn push(&mut self, name: &str, value: &str) {
        let value = sanitize(value);
        let (value, value_cut) = cut(&value, MAX_VALUE);
        let mut param = format!(" {}=\"", sd_name(name));
        escape_value(value, &mut param);
        param.push('"');
        let total = SD_ID.len() + 2 + self.body.len() + param.len() + TRUNCATED.len();
        if total > MAX_SD {
            self.truncated = true;
            return;
        }
        self.truncated |= value_cut;
        self.body.push_str(&param);
    }

    /// `[kensa@32473 ...]`, or `-` when there is nothing to say.
    fn write(&self, out: &mut Vec<u8>) {
        if self.body.is_empty() && !self.truncated {
            out.extend_from_slice(NIL.as_bytes());
            return;
        }
        out.push(b'[');
        out.extend_from_slice(SD_ID.as_bytes());
        out.extend_from_slice(self.body.as_bytes());
        if self.truncated {
            out.extend_from_slice(TRUNCATED.as_bytes());
        }
        out.push(b']');
    }
}

/// The TIMESTAMP field: `time` (RFC 3339) as RFC 5424 allows it (4-digit
/// year, at most 6 fraction digits, no leap second, `Z` or an offset), or
/// `-` when it is not a time.
fn timestamp(time: &str) -> String {
    let Ok(t) = DateTime::parse_from_rfc3339(time.trim()) else {
        return NIL.to_string();
    };
    if !(0..=9999).contains(&t.year()) {
        return NIL.to_string();
    }
    // chrono keeps a leap second as nanoseconds past 1e9; RFC 5424 has
    // no second 60.
    let t = match t.nanosecond() {
        n if n >= 1_000_000_000 => t.with_nanosecond(999_999_000).unwrap_or(t),
        _ => t,
    };
    let format = match t.nanosecond() {
        0 => SecondsFormat::Secs,
        n if n % 1_000_000 == 0 => SecondsFormat::Millis,
        _ => SecondsFormat::Micros,
    };
    t.to_rfc3339_opts(format, true)
}

/// A header field: PRINTUSASCII only (anything else becomes `_`), at most
/// `max` bytes, `-` when empty.
fn header_field(s: &str, max: usize) -> String {
    let out: String = s
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(max)
        .collect();
    if out.is_empty() {
        NIL.to_string()
    } else {
        out
    }
}

/// An SD-NAME: PRINTUSASCII except `=`, space, `]` and `"` (anything else
/// becomes `_`), 1 to 32 characters.
fn sd_name(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| match c {
            '=' | ']' | '"' => '_',
            c if c.is_ascii_graphic() => c,
            _ => '_',
        })
        .take(MAX_SD_NAME)
        .collect();
    if out.is_empty() {
        "_".to_string()
    } else {
        out
    }
}

/// Appends a PARAM-VALUE with `"`, `\` and `]` escaped by a backslash
/// (RFC 5424 §6.3.3).
fn escape_value(s: &str, out: &mut String) {
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// `s` cut to at most `max` bytes on a character boundary, and whether it
/// was cut.
fn cut(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (s.get(..end).unwrap_or_default(), true)
}
