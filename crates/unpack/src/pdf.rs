//! PDF: stream objects decoded and embedded files extracted. The xref
//! table is not trusted (it may lie, be missing or describe an older
//! revision): the bytes are scanned for `N G obj` headers (at most
//! [`MAX_OBJECTS`]), each object's dictionary is parsed (`lexer.rs`) and a
//! following `stream` keyword gives its data. `/Length` is used when it is
//! a number or a reference to one and `endstream` follows the data where it
//! says; otherwise the data runs to the next `endstream`, and a stream
//! without one is truncated (decoded as far as it goes, then a `Corrupt`
//! gap). The `/Filter` chain (a name or an array, with `/DecodeParms`) is
//! decoded by streaming readers (`filters.rs`): FlateDecode, LZWDecode,
//! ASCIIHexDecode, ASCII85Decode, RunLengthDecode, and the PNG/TIFF
//! predictors; each stream goes through the walker's limits, so a Flate
//! bomb stops at the first limit. Image filters (DCTDecode, JPXDecode,
//! JBIG2Decode, CCITTFaxDecode) end the chain: what comes out of them is
//! image data, so the member is the image's encoded bytes (a JPEG, a
//! JPEG 2000 codestream, ...), which is not a gap. An unknown filter is an
//! `Unsupported` gap naming it.
//!
//! Member names: a stream is `$obj/N` (N the object number). An embedded
//! file (`/Type /EmbeddedFile`, or the stream a Filespec's `/EF` names) is
//! named by the Filespec's file name (`/UF`, else `/F`; UTF-16 with a BOM
//! made UTF-8), like a zip member, else `$obj/N`. `/JS` string literals
//! longer than 64 bytes are members `$js/N` (N counts them). Object streams
//! (`/Type /ObjStm`) are decoded first and the dictionaries inside them read
//! for Filespecs and JavaScript. Streams that have no filter (or only an
//! image filter) are not members unless they are embedded files, object
//! streams or start with a container's magic: their bytes are already in
//! the file, which is scanned whole.
//!
//! An encrypted PDF (`/Encrypt` in a trailer or a cross-reference stream)
//! has its strings and streams encrypted: one `Encrypted` gap, no stream is
//! decoded (the standard security handler's empty-user-password case is not
//! decrypted).

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{self, Read};

use crate::locate::{locate, Found};
use crate::walker::{Counting, End, Walker};
use crate::{ContainerKind, Gap};

mod filters;
mod lexer;

use filters::{Ascii85, AsciiHex, Codec, Filtered, Lzw, Predictor, RunLength};
use lexer::{int, is_delim, is_white, Lexer, Obj};

/// Objects read from one PDF at most; more is a `Limit` gap.
const MAX_OBJECTS: usize = 100_000;
/// Filters in one chain at most.
const MAX_FILTERS: usize = 8;
/// `/JS` strings longer than this are members.
const JS_MIN: usize = 64;
/// Values the lexer may build over the whole file (every object's
/// dictionary together); past it the rest of the file is a `Limit` gap, so
/// dictionaries that swallow each other cannot make the scan quadratic.
const MAX_TOTAL_ITEMS: u64 = 5_000_000;
/// Where `%PDF-` may start (Acrobat accepts it in the first 1024 bytes).
const HEADER_WINDOW: usize = 1024;

/// Recognise a PDF: `%PDF-` within the first 1024 bytes.
pub(crate) fn sniff(data: &[u8]) -> Option<Found> {
    let head = &data[..data.len().min(HEADER_WINDOW)];
    let at = head.windows(5).position(|w| w == b"%PDF-")?;
    Some(Found {
        kind: ContainerKind::Pdf,
        offset: at,
    })
}

/// One indirect object found in the bytes.
struct Object {
    num: u32,
    /// Where the value after `obj` starts.
    body: usize,
    dict: Option<Obj>,
    /// The stream's data: start, end (exclusive), whether `endstream` was found.
    stream: Option<(usize, usize, bool)>,
}

/// The first occurrence of `needle` in `hay` at or after `from`.
fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let &first = needle.first()?;
    let mut i = from;
    loop {
        let at = i + hay.get(i..)?.iter().position(|&b| b == first)?;
        if hay.get(at..at + needle.len()) == Some(needle) {
            return Some(at);
        }
        i = at + 1;
    }
}

/// Every occurrence of `needle` in `hay`, at most `max`, in order.
fn find_all(hay: &[u8], needle: &[u8], max: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut from = 0;
    while out.len() < max {
        let Some(at) = find(hay, from, needle) else {
            break;
        };
        out.push(at);
        from = at + 1;
    }
    out
}

/// The object number when `obj` at `at` closes an `N G obj` header.
fn object_header(d: &[u8], at: usize) -> Option<u32> {
    if d.get(at + 3).is_some_and(|&b| !is_white(b) && !is_delim(b)) {
        return None;
    }
    // Walk back over: white, generation digits, white, number digits.
    let mut i = at;
    let back_white = |i: &mut usize| {
        let s = *i;
        while *i > 0 && is_white(d[*i - 1]) && s - *i < 256 {
            *i -= 1;
        }
        *i < s
    };
    let back_digits = |i: &mut usize| {
        let s = *i;
        while *i > 0 && d[*i - 1].is_ascii_digit() && s - *i < 10 {
            *i -= 1;
        }
        (*i < s).then_some(*i..s)
    };
    back_white(&mut i).then_some(())?;
    back_digits(&mut i)?;
    back_white(&mut i).then_some(())?;
    let num = back_digits(&mut i)?;
    if i > 0 && !is_white(d[i - 1]) && !is_delim(d[i - 1]) {
        return None;
    }
    u32::try_from(int(&d[num])?).ok()
}

/// The PDF's objects and what the reader needs across them.
struct Doc<'a> {
    data: &'a [u8],
    objects: Vec<Object>,
    /// Object number → index in `objects` (the last definition wins, as in
    /// an incremental update).
    index: HashMap<u32, usize>,
    /// Embedded-file stream number → file name.
    names: HashMap<u32, Vec<u8>>,
    js: u32,
    /// Lexer values built so far (see [`MAX_TOTAL_ITEMS`]).
    items: u64,
}

impl<'a> Doc<'a> {
    fn scan(data: &'a [u8]) -> (Doc<'a>, bool) {
        let mut doc = Doc {
            data,
            objects: Vec::new(),
            index: HashMap::new(),
            names: HashMap::new(),
            js: 0,
            items: 0,
        };
        let mut more = false;
        let mut from = 0;
        while let Some(at) = find(data, from, b"obj") {
            from = at + 3;
            let Some(num) = object_header(data, at) else {
                continue;
            };
            if doc.objects.len() == MAX_OBJECTS || doc.items > MAX_TOTAL_ITEMS {
                more = true;
                break;
            }
            doc.object(num, at + 3);
        }
        (doc, more)
    }

    /// Parse the object whose value starts at `body`.
    fn object(&mut self, num: u32, body: usize) {
        let mut lx = Lexer::new(self.data, body);
        lx.skip_white();
        let dict = if self.data.get(lx.pos..lx.pos + 2) == Some(b"<<") {
            lx.value()
        } else {
            None
        };
        self.items += u64::from(lx.items());
        let mut stream = None;
        if dict.is_some() {
            lx.skip_white();
            if self.data.get(lx.pos..lx.pos + 6) == Some(b"stream") {
                let mut s = lx.pos + 6;
                if self.data.get(s) == Some(&b'\r') {
                    s += 1;
                }
                if self.data.get(s) == Some(&b'\n') {
                    s += 1;
                }
                stream = Some(s);
            }
        }
        self.index.insert(num, self.objects.len());
        self.objects.push(Object {
            num,
            body,
            dict,
            stream: stream.map(|s| (s, s, false)),
        });
    }

    /// An integer object's value (for an indirect `/Length`).
    fn int_object(&self, num: u32) -> Option<i64> {
        let o = self.objects.get(*self.index.get(&num)?)?;
        let mut lx = Lexer::new(self.data, o.body);
        match lx.value()? {
            Obj::Int(v) => Some(v),
            _ => None,
        }
    }

    /// Where each stream's data ends: `/Length` when `endstream` follows it,
    /// else the next `endstream` (EOL before it removed).
    fn bound_streams(&mut self) {
        // Objects come in file order, so the next `endstream` is searched
        // forward once: linear in the file however many streams lie.
        let mut next_end: Option<usize> = None;
        for i in 0..self.objects.len() {
            let Some((start, _, _)) = self.objects[i].stream else {
                continue;
            };
            let declared = match self.objects[i].dict.as_ref().and_then(|d| d.get(b"Length")) {
                Some(Obj::Int(v)) => Some(*v),
                Some(Obj::Ref(n)) => self.int_object(*n),
                _ => None,
            };
            let by_length = declared
                .and_then(|l| usize::try_from(l).ok())
                .and_then(|l| start.checked_add(l))
                .filter(|&end| self.endstream_follows(end));
            let bound = match by_length {
                Some(end) => (start, end, true),
                None => {
                    if next_end.is_none_or(|e| e < start) {
                        next_end = find(self.data, start, b"endstream");
                    }
                    self.to_endstream(start, next_end)
                }
            };
            self.objects[i].stream = Some(bound);
        }
    }

    /// `endstream` at `end`, after at most a few bytes of white space.
    fn endstream_follows(&self, end: usize) -> bool {
        let Some(rest) = self.data.get(end..) else {
            return false;
        };
        let white = rest.iter().take(32).take_while(|&&b| is_white(b)).count();
        rest[white..].starts_with(b"endstream")
    }

    fn to_endstream(&self, start: usize, next_end: Option<usize>) -> (usize, usize, bool) {
        let Some(e) = next_end else {
            return (start, self.data.len(), false);
        };
        let mut end = e;
        if end > start && self.data[end - 1] == b'\n' {
            end -= 1;
        }
        if end > start && self.data[end - 1] == b'\r' {
            end -= 1;
        }
        (start, end, true)
    }

    /// Embedded files named by Filespec dictionaries (`/EF << /F n 0 R >>`).
    fn learn_filespec(&mut self, dict: &Obj) {
        let Some(ef) = dict.get(b"EF") else { return };
        let name = [b"UF".as_slice(), b"F"]
            .iter()
            .find_map(|k| match dict.get(k) {
                Some(Obj::Str(s)) if !s.is_empty() => Some(text_string(s)),
                _ => None,
            });
        let Some(name) = name else { return };
        if let Obj::Dict(entries) = ef {
            for (_, v) in entries {
                if let Obj::Ref(n) = v {
                    self.names.entry(*n).or_insert_with(|| name.clone());
                }
            }
        }
    }
}

/// A PDF text string as bytes: UTF-16BE (with BOM) made UTF-8.
fn text_string(s: &[u8]) -> Vec<u8> {
    if let Some(rest) = s.strip_prefix(&[0xfe, 0xff]) {
        let units = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]));
        return char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect::<String>()
            .into_bytes();
    }
    s.to_vec()
}

/// One filter of a chain.
enum Filter {
    Flate,
    Lzw(bool),
    AsciiHex,
    Ascii85,
    RunLength,
    /// An image codec: the chain stops, the bytes are the image.
    Image,
    /// `/Crypt` with the identity filter.
    Identity,
}

/// The stream's filter chain with each filter's parameters; Err names a
/// filter kensa does not decode.
fn chain(dict: &Obj) -> Result<Vec<(Filter, Option<Obj>)>, String> {
    let names: Vec<&[u8]> = match dict.get(b"Filter") {
        None | Some(Obj::Null) => return Ok(Vec::new()),
        Some(Obj::Name(n)) => vec![n.as_slice()],
        Some(Obj::Array(a)) => a.iter().filter_map(Obj::name).collect(),
        Some(_) => return Err("a /Filter that is not a name or an array".into()),
    };
    if names.len() > MAX_FILTERS {
        return Err(format!("{} filters in one chain", names.len()));
    }
    let parms: Vec<Option<Obj>> = match dict.get(b"DecodeParms").or_else(|| dict.get(b"DP")) {
        Some(Obj::Array(a)) => a.iter().cloned().map(Some).collect(),
        Some(d @ Obj::Dict(_)) => vec![Some(d.clone())],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let p = parms.get(i).cloned().flatten();
        let early = !matches!(
            p.as_ref().and_then(|p| p.get(b"EarlyChange")),
            Some(Obj::Int(0))
        );
        let f = match *name {
            b"FlateDecode" | b"Fl" => Filter::Flate,
            b"LZWDecode" | b"LZW" => Filter::Lzw(early),
            b"ASCIIHexDecode" | b"AHx" => Filter::AsciiHex,
            b"ASCII85Decode" | b"A85" => Filter::Ascii85,
            b"RunLengthDecode" | b"RL" => Filter::RunLength,
            b"DCTDecode" | b"DCT" | b"JPXDecode" | b"JBIG2Decode" | b"CCITTFaxDecode" | b"CCF" => {
                Filter::Image
            }
            b"Crypt"
                if p.as_ref()
                    .and_then(|p| p.get(b"Name"))
                    .and_then(Obj::name)
                    .is_none_or(|n| n == b"Identity") =>
            {
                Filter::Identity
            }
            other => return Err(format!("filter /{}", String::from_utf8_lossy(other))),
        };
        out.push((f, p));
    }
    Ok(out)
}

/// Stack the chain's readers over `raw`.
fn decoder<'a>(
    raw: Box<dyn Read + 'a>,
    filters: &[(Filter, Option<Obj>)],
) -> io::Result<Box<dyn Read + 'a>> {
    fn boxed<'a, C: Codec + 'a>(r: Box<dyn Read + 'a>, c: C) -> Box<dyn Read + 'a> {
        Box::new(Filtered::new(r, c))
    }
    let mut r = raw;
    for (f, parms) in filters {
        r = match f {
            Filter::Flate => filters::flate(r)?,
            Filter::Lzw(early) => boxed(r, Lzw::new(*early)),
            Filter::AsciiHex => boxed(r, AsciiHex::default()),
            Filter::Ascii85 => boxed(r, Ascii85::default()),
            Filter::RunLength => boxed(r, RunLength::default()),
            Filter::Image => return Ok(r),
            Filter::Identity => r,
        };
        if matches!(f, Filter::Flate | Filter::Lzw(_)) {
            if let Some(p) = Predictor::from_parms(parms.as_ref())? {
                r = boxed(r, p);
            }
        }
    }
    Ok(r)
}

/// `/Encrypt` in a trailer dictionary or a cross-reference stream.
fn encrypted(doc: &Doc<'_>) -> bool {
    let xref = doc.objects.iter().any(|o| {
        o.dict.as_ref().is_some_and(|d| {
            d.get(b"Type").and_then(Obj::name) == Some(b"XRef") && d.get(b"Encrypt").is_some()
        })
    });
    xref || find_all(doc.data, b"trailer", 100).into_iter().any(|at| {
        Lexer::new(doc.data, at + 7)
            .value()
            .is_some_and(|t| t.get(b"Encrypt").is_some())
    })
}

impl Walker<'_, '_> {
    pub(crate) fn pdf(&mut self, inner: &[u8], depth: u32) {
        let (mut doc, more) = Doc::scan(inner);
        if more {
            self.skip(
                Gap::Limit,
                format!("pdf: more than {MAX_OBJECTS} objects, the rest not read"),
            );
        }
        if encrypted(&doc) {
            return self.skip(
                Gap::Encrypted,
                "pdf is encrypted (/Encrypt): streams and strings not decoded".into(),
            );
        }
        doc.bound_streams();
        let dicts: Vec<Obj> = doc.objects.iter().filter_map(|o| o.dict.clone()).collect();
        for d in &dicts {
            doc.learn_filespec(d);
            self.pdf_js(&mut doc, d, depth);
        }
        // Object streams first: they may hold the Filespecs naming files.
        for pass_objstm in [true, false] {
            for i in 0..doc.objects.len() {
                if self.stopped || self.out_of_time() {
                    return;
                }
                let is_objstm = doc.objects[i]
                    .dict
                    .as_ref()
                    .and_then(|d| d.get(b"Type"))
                    .and_then(Obj::name)
                    == Some(b"ObjStm");
                if is_objstm == pass_objstm {
                    self.pdf_stream(&mut doc, i, depth);
                }
            }
        }
    }

    /// A `/JS` string literal longer than [`JS_MIN`] bytes: member `$js/N`.
    fn pdf_js(&mut self, doc: &mut Doc<'_>, dict: &Obj, depth: u32) {
        let Some(Obj::Str(js)) = dict.get(b"JS") else {
            return;
        };
        if js.len() <= JS_MIN || !self.admit() {
            return;
        }
        doc.js += 1;
        let name = format!("$js/{}", doc.js).into_bytes();
        self.named(name, |w| w.stored_member(js, None, depth, "pdf JavaScript"));
    }

    /// Decode stream object `i` and visit it (see the module doc for which
    /// streams are members).
    fn pdf_stream(&mut self, doc: &mut Doc<'_>, i: usize, depth: u32) {
        let o = &doc.objects[i];
        let (Some((start, end, closed)), Some(dict)) = (o.stream, o.dict.clone()) else {
            return;
        };
        let num = o.num;
        let raw = doc.data.get(start..end).unwrap_or_default();
        let ty = dict.get(b"Type").and_then(Obj::name);
        let embedded = ty == Some(b"EmbeddedFile") || doc.names.contains_key(&num);
        let objstm = ty == Some(b"ObjStm");
        let name = match doc.names.get(&num) {
            Some(n) => n.clone(),
            None => format!("$obj/{num}").into_bytes(),
        };
        let filters = match chain(&dict) {
            Ok(f) => f,
            Err(why) => {
                return self.named(name, |w| {
                    w.skip(Gap::Unsupported, format!("pdf stream: {why}, not decoded"))
                })
            }
        };
        let plain = filters
            .iter()
            .all(|(f, _)| matches!(f, Filter::Image | Filter::Identity));
        if plain && !embedded && !objstm && locate(raw).is_none() {
            return;
        }
        if !self.admit() {
            return;
        }
        let truncated = (!closed).then(|| format!("pdf stream {num}: no endstream before the end"));
        let mut out = Vec::new();
        self.named(name, |w| {
            out = w.pdf_decode(raw, &filters, truncated, depth, objstm);
        });
        if objstm {
            self.pdf_objstm(doc, &dict, &out, depth);
        }
    }

    /// Run the chain over `raw` through the limits and visit the result;
    /// returns the decoded bytes when `keep` (object streams).
    fn pdf_decode(
        &mut self,
        raw: &[u8],
        filters: &[(Filter, Option<Obj>)],
        truncated: Option<String>,
        depth: u32,
        keep: bool,
    ) -> Vec<u8> {
        let consumed = Cell::new(0u64);
        let input = Counting {
            inner: raw,
            n: &consumed,
        };
        let (out, end) = match decoder(Box::new(input), filters) {
            Ok(mut r) => self.read_member(&mut r, &|| consumed.get()),
            Err(e) => (Vec::new(), End::Error(e)),
        };
        let end = match (end, truncated) {
            (End::Complete, Some(why)) => {
                End::Error(io::Error::new(io::ErrorKind::UnexpectedEof, why))
            }
            (end, _) => end,
        };
        let kept = if keep { out.clone() } else { Vec::new() };
        self.finish(out, end, depth, "pdf stream");
        kept
    }

    /// The objects inside a decoded object stream: `/N` pairs of object
    /// number and offset, the objects from `/First` on. Their dictionaries
    /// are read for Filespecs and `/JS`.
    fn pdf_objstm(&mut self, doc: &mut Doc<'_>, dict: &Obj, data: &[u8], depth: u32) {
        let (Some(Obj::Int(n)), Some(Obj::Int(first))) = (dict.get(b"N"), dict.get(b"First"))
        else {
            return;
        };
        let Ok(first) = usize::try_from(*first) else {
            return;
        };
        let n = usize::try_from(*n).unwrap_or(0).min(MAX_OBJECTS);
        let mut lx = Lexer::new(data, 0);
        // Objects lie one after the other: one that starts inside the
        // previous one is not parsed again (linear work on hostile offsets).
        let mut parsed_until = 0;
        for _ in 0..n {
            let (Some(Obj::Int(_)), Some(Obj::Int(off))) = (lx.value(), lx.value()) else {
                return;
            };
            let Some(at) = usize::try_from(off).ok().and_then(|o| first.checked_add(o)) else {
                return;
            };
            if at < parsed_until {
                continue;
            }
            let mut one = Lexer::new(data, at);
            if let Some(d @ Obj::Dict(_)) = one.value() {
                doc.learn_filespec(&d);
                self.pdf_js(doc, &d, depth);
            }
            parsed_until = one.pos.max(at + 1);
            if self.stopped || self.out_of_time() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_headers() {
        let d = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n12 3 obj<<>>x4 0 obj 5 0 objx";
        let hits: Vec<u32> = find_all(d, b"obj", 100)
            .into_iter()
            .filter_map(|at| object_header(d, at))
            .collect();
        assert_eq!(hits, vec![1, 12]);
        assert_eq!(object_header(b"obj", 0), None);
    }

    #[test]
    fn sniff_in_the_first_kib() {
        assert!(sniff(b"%PDF-1.7\n").is_some());
        let mut late = vec![b' '; 1100];
        late.extend_from_slice(b"%PDF-1.7");
        assert!(sniff(&late).is_none());
        assert_eq!(sniff(b"junk\n%PDF-1.1").map(|f| f.offset), Some(5));
    }

    /// Member names and bytes, gaps, from walking `data`.
    fn walk(data: &[u8]) -> (Vec<(String, Vec<u8>)>, Vec<crate::Gap>) {
        let (mut members, mut gaps) = (Vec::new(), Vec::new());
        crate::walk(data, &crate::ArchiveLimits::default(), &mut |ev| match ev {
            crate::MemberEvent::Member { chain, data, .. } => {
                let name = chain
                    .iter()
                    .map(|c| String::from_utf8_lossy(c))
                    .collect::<Vec<_>>();
                members.push((name.join("/"), data.to_vec()));
            }
            crate::MemberEvent::Skip { reason, .. } => gaps.push(reason),
            crate::MemberEvent::Suspicious { .. } => {}
        });
        (members, gaps)
    }

    #[test]
    fn streams_attachments_and_js() {
        let js = "app.alert(1);".repeat(8);
        let doc = format!(
            "%PDF-1.4\n1 0 obj <</S/JavaScript/JS({js})>> endobj\n\
             2 0 obj <</Type/Filespec/UF<FEFF0061002E0074>/EF<</F 3 0 R>>>> endobj\n\
             3 0 obj <</Length 99/Filter/AHx>> stream\n414243>\nendstream endobj\n\
             4 0 obj <</Length 5 0 R/Filter[/A85]>>stream\r\n9jqo^~>\r\nendstream endobj\n\
             5 0 obj 7 endobj\n\
             6 0 obj <</Length 3>> stream\nraw\nendstream endobj\n"
        );
        let (members, gaps) = walk(doc.as_bytes());
        assert_eq!(gaps, vec![]);
        let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["$js/1", "a.t", "$obj/4"]);
        assert_eq!(members[1].1, b"ABC");
        assert_eq!(members[2].1, b"Man ");
    }

    #[test]
    fn unknown_filters_and_truncation_are_gaps() {
        let (m, gaps) = walk(b"%PDF-1.4\n1 0 obj <</Filter/Foo>> stream\nxx\nendstream endobj");
        assert!(m.is_empty());
        assert_eq!(gaps, vec![Gap::Unsupported]);
        let (m, gaps) = walk(b"%PDF-1.4\n1 0 obj <</Filter/AHx>> stream\n4142");
        assert_eq!(m[0].1, b"AB");
        assert_eq!(gaps, vec![Gap::Corrupt]);
        let (_, gaps) = walk(b"%PDF-1.4\ntrailer <</Encrypt 3 0 R>>");
        assert_eq!(gaps, vec![Gap::Encrypted]);
    }

    #[test]
    fn utf16_names() {
        assert_eq!(text_string(b"\xfe\xff\0a\0.\0t"), b"a.t");
        assert_eq!(text_string(b"plain"), b"plain");
    }
}
