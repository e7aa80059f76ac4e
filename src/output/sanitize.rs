//! Makes text that is not a name (messages, rule metadata, errors) safe
//! for a terminal: control characters, escape sequences and bidirectional
//! overrides are shown as visible escapes, so hostile text can neither move
//! the cursor nor disguise `exe` as `pdf`. It uses the same predicate and
//! escapes as `engine::pathfmt` (the text form of names) and leaves that
//! form unchanged, so a name already in it is printed as recorded.

use crate::engine::pathfmt::{is_dangerous, push_escaped};

/// Returns `s` with every dangerous character replaced by `\xNN` (ASCII
/// controls) or `\u{NNNN}` (others).
pub fn sanitize(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(is_dangerous) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_dangerous(c) {
            push_escaped(&mut out, c);
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

    #[test]
    fn leaves_the_text_form_of_names_unchanged() {
        let name = crate::engine::pathfmt::bytes_to_string(b"a\\b\x1b\xff\r");
        assert_eq!(sanitize(&name), name);
    }
}
