//! The PDF object syntax the reader needs: dictionaries, arrays, names,
//! literal and hex strings, numbers, references and keywords (ISO 32000-1
//! section 7.3). Nesting is bounded by [`MAX_NEST`] and the values one
//! parse may build by [`MAX_ITEMS`], so hostile input cannot grow the
//! stack or the heap beyond a fixed multiple of those figures.

/// Deepest nesting of arrays and dictionaries parsed.
const MAX_NEST: u32 = 32;
/// Values one top-level parse may hold (a legitimate dictionary holds
/// tens; a page tree's `/Kids` array a few thousand).
const MAX_ITEMS: u32 = 50_000;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Obj {
    Null,
    Bool(bool),
    Int(i64),
    Real,
    Str(Vec<u8>),
    Name(Vec<u8>),
    Array(Vec<Obj>),
    Dict(Vec<(Vec<u8>, Obj)>),
    Ref(u32),
    Keyword(Vec<u8>),
}

impl Obj {
    /// The value of `key` in a dictionary.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Obj> {
        match self {
            Obj::Dict(d) => d.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn name(&self) -> Option<&[u8]> {
        match self {
            Obj::Name(n) => Some(n),
            _ => None,
        }
    }
}

pub(crate) fn is_white(b: u8) -> bool {
    matches!(b, 0 | b'\t' | b'\n' | 0x0c | b'\r' | b' ')
}

pub(crate) fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

/// A cursor over PDF bytes.
pub(crate) struct Lexer<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) pos: usize,
    items: u32,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(data: &'a [u8], pos: usize) -> Self {
        Lexer {
            data,
            pos,
            items: 0,
        }
    }

    /// Values built so far by this lexer.
    pub(crate) fn items(&self) -> u32 {
        self.items
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Skip white space and comments.
    pub(crate) fn skip_white(&mut self) {
        while let Some(b) = self.peek() {
            if is_white(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// A regular-character token (number, keyword).
    fn token(&mut self) -> &'a [u8] {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if is_white(b) || is_delim(b) {
                break;
            }
            self.pos += 1;
        }
        &self.data[start..self.pos]
    }

    /// Parse one value; None on malformed input or a limit.
    pub(crate) fn value(&mut self) -> Option<Obj> {
        self.value_at(0)
    }

    fn value_at(&mut self, nest: u32) -> Option<Obj> {
        self.items += 1;
        if nest > MAX_NEST || self.items > MAX_ITEMS {
            return None;
        }
        self.skip_white();
        let rest = self.data.get(self.pos..)?;
        match *rest.first()? {
            b'<' if rest.get(1) == Some(&b'<') => {
                self.pos += 2;
                self.dict(nest)
            }
            b'<' => {
                self.pos += 1;
                Some(Obj::Str(self.hex_string()))
            }
            b'[' => {
                self.pos += 1;
                self.array(nest)
            }
            b'(' => {
                self.pos += 1;
                Some(Obj::Str(self.literal_string()))
            }
            b'/' => {
                self.pos += 1;
                Some(Obj::Name(self.name()))
            }
            _ => self.number_or_keyword(),
        }
    }

    fn dict(&mut self, nest: u32) -> Option<Obj> {
        let mut entries = Vec::new();
        loop {
            self.skip_white();
            match self.peek()? {
                b'>' => {
                    self.pos += 1;
                    if self.peek() == Some(b'>') {
                        self.pos += 1;
                    }
                    return Some(Obj::Dict(entries));
                }
                b'/' => {
                    self.pos += 1;
                    let key = self.name();
                    let value = self.value_at(nest + 1)?;
                    entries.push((key, value));
                }
                _ => {
                    // A stray token: skip it, keep the dictionary.
                    self.value_at(nest + 1)?;
                }
            }
        }
    }

    fn array(&mut self, nest: u32) -> Option<Obj> {
        let mut items = Vec::new();
        loop {
            self.skip_white();
            if self.peek()? == b']' {
                self.pos += 1;
                return Some(Obj::Array(items));
            }
            if self.peek() == Some(b'>') {
                return None;
            }
            items.push(self.value_at(nest + 1)?);
        }
    }

    /// A name after its `/`, with `#xx` escapes decoded.
    fn name(&mut self) -> Vec<u8> {
        let raw = self.token();
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            let hex = raw
                .get(i + 1..i + 3)
                .filter(|_| raw[i] == b'#')
                .and_then(|h| Some(hex_val(h[0])? << 4 | hex_val(h[1])?));
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => {
                    out.push(raw[i]);
                    i += 1;
                }
            }
        }
        out
    }

    /// A literal string after its `(`: balanced parentheses, escapes.
    pub(crate) fn literal_string(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut depth = 1u32;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return out;
                    }
                }
                b'\\' => {
                    self.escape(&mut out);
                    continue;
                }
                _ => {}
            }
            out.push(b);
        }
        out
    }

    fn escape(&mut self, out: &mut Vec<u8>) {
        let Some(c) = self.peek() else { return };
        self.pos += 1;
        let simple = match c {
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'b' => Some(8),
            b'f' => Some(12),
            b'\r' => {
                if self.peek() == Some(b'\n') {
                    self.pos += 1;
                }
                return;
            }
            b'\n' => return,
            b'0'..=b'7' => None,
            other => Some(other),
        };
        if let Some(s) = simple {
            return out.push(s);
        }
        let mut v = u32::from(c - b'0');
        for _ in 0..2 {
            match self.peek() {
                Some(d @ b'0'..=b'7') => {
                    v = v * 8 + u32::from(d - b'0');
                    self.pos += 1;
                }
                _ => break,
            }
        }
        out.push(v as u8);
    }

    /// A hex string after its `<`.
    fn hex_string(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        while let Some(b) = self.peek() {
            self.pos += 1;
            if b == b'>' {
                break;
            }
            let Some(v) = hex_val(b) else { continue };
            match high.take() {
                Some(h) => out.push(h << 4 | v),
                None => high = Some(v),
            }
        }
        if let Some(h) = high {
            out.push(h << 4);
        }
        out
    }

    /// A number, `N G R` reference, or keyword.
    fn number_or_keyword(&mut self) -> Option<Obj> {
        let tok = self.token();
        if tok.is_empty() {
            // A delimiter no value starts with: step over it.
            self.pos += 1;
            return Some(Obj::Null);
        }
        if let Some(n) = int(tok) {
            let save = self.pos;
            if let (Ok(num), Some(_)) = (u32::try_from(n), self.reference_tail()) {
                return Some(Obj::Ref(num));
            }
            self.pos = save;
            return Some(Obj::Int(n));
        }
        Some(match tok {
            b"true" => Obj::Bool(true),
            b"false" => Obj::Bool(false),
            b"null" => Obj::Null,
            t if t.iter().all(|b| b"+-.0123456789".contains(b)) => Obj::Real,
            t => Obj::Keyword(t.to_vec()),
        })
    }

    /// After an integer: ` G R` (then consumed) or None.
    fn reference_tail(&mut self) -> Option<()> {
        self.skip_white();
        int(self.token())?;
        self.skip_white();
        (self.token() == b"R").then_some(())
    }
}

pub(crate) fn int(tok: &[u8]) -> Option<i64> {
    let (neg, digits) = match tok.first()? {
        b'-' => (true, &tok[1..]),
        b'+' => (false, &tok[1..]),
        _ => (false, tok),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits
        .iter()
        .fold(0i64, |v, &d| v * 10 + i64::from(d - b'0'));
    Some(if neg { -v } else { v })
}

pub(crate) fn hex_val(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|v| v as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Obj {
        Lexer::new(s, 0).value().unwrap()
    }

    #[test]
    fn dictionaries_and_values() {
        let d = parse(b"<< /Type /EmbeddedFile /Length 12 0 R /Filter [/AHx /Fl] /N -3 /F (a\\(b\\)\\101) /H <41 4> /D<</X 1.5>> >>");
        assert_eq!(
            d.get(b"Type").and_then(Obj::name),
            Some(&b"EmbeddedFile"[..])
        );
        assert_eq!(d.get(b"Length"), Some(&Obj::Ref(12)));
        assert_eq!(
            d.get(b"Filter"),
            Some(&Obj::Array(vec![
                Obj::Name(b"AHx".to_vec()),
                Obj::Name(b"Fl".to_vec())
            ]))
        );
        assert_eq!(d.get(b"N"), Some(&Obj::Int(-3)));
        assert_eq!(d.get(b"F"), Some(&Obj::Str(b"a(b)A".to_vec())));
        assert_eq!(d.get(b"H"), Some(&Obj::Str(vec![0x41, 0x40])));
        assert_eq!(d.get(b"D").and_then(|x| x.get(b"X")), Some(&Obj::Real));
        assert_eq!(parse(b"/A#20B"), Obj::Name(b"A B".to_vec()));
        assert_eq!(parse(b"(x\\\ny)"), Obj::Str(b"xy".to_vec()));
    }

    #[test]
    fn hostile_nesting_is_refused() {
        let deep = b"[".repeat(100_000);
        assert_eq!(Lexer::new(&deep, 0).value(), None);
        let wide = b"["
            .iter()
            .chain(b"1 ".repeat(60_000).iter())
            .copied()
            .collect::<Vec<_>>();
        assert_eq!(Lexer::new(&wide, 0).value(), None);
        assert_eq!(Lexer::new(b"<< /A", 0).value(), None);
        assert_eq!(Lexer::new(b"", 0).value(), None);
    }
}
