//! Makes names from media safe for a terminal: control characters, escape
//! sequences and bidirectional overrides are shown as visible escapes, so a
//! hostile file name can neither move the cursor nor disguise `exe` as `pdf`.

/// True for characters that must not reach a terminal as they are.
fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200E}' | '\u{200F}' | '\u{061C}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}' | '\u{2029}'
            | '\u{FEFF}')
}

/// Returns `s` with every dangerous character replaced by `\xNN` (ASCII
/// controls) or `\u{NNNN}` (others).
pub fn sanitize(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(is_dangerous) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_dangerous(c) {
            if (c as u32) < 0x80 {
                out.push_str(&format!("\\x{:02X}", c as u32));
            } else {
                out.push_str(&format!("\\u{{{:04X}}}", c as u32));
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn escapes_controls_and_bidi() {
        assert_eq!(sanitize("plain.txt"), "plain.txt");
        assert_eq!(sanitize("a\x1b[31mred"), "a\\x1B[31mred");
        assert_eq!(sanitize("report\u{202E}fdp.exe"), "report\\u{202E}fdp.exe");
        assert_eq!(sanitize("line\nbreak\x07"), "line\\x0Abreak\\x07");
        assert_eq!(sanitize("c1\u{9b}x"), "c1\\u{009B}x");
        assert_eq!(sanitize("日本語"), "日本語");
    }
}
