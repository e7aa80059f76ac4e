//! Whether a Windows folder's access list keeps it private: the pure half
//! of the state folder's protection (the Windows half, reading and setting
//! security descriptors, is `state/windows.rs`). A security descriptor
//! arrives as its SDDL text (what `ConvertSecurityDescriptorToString...`
//! returns), is parsed here into its DACL ([`parse`]), and [`others`] lists
//! every account other than SYSTEM, BUILTIN\Administrators and the account
//! the agent itself runs as (as on Unix, where the owner reads its key)
//! that an allow entry lets read the folder's files or change the folder
//! (write, delete, rewrite the access list, take ownership). Deny entries only
//! take rights away and are not counted; inherit-only entries are (they
//! reach the files inside, the agent key among them). A missing DACL
//! (`D:NO_ACCESS_CONTROL`, or no `D:` at all) lets everyone in. Being
//! pure, it is unit-tested on Linux over recorded descriptors, Windows'
//! and Wine's.

/// The access list kensa gives the state folder and its keys folder:
/// protected (nothing inherited from the parent), full control for SYSTEM
/// and BUILTIN\Administrators, inherited by every file and folder inside.
pub const PRIVATE_SDDL: &str = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";

/// Longest SDDL text judged (a DACL holds at most 64 KiB of entries).
const MAX_SDDL: usize = 256 << 10;
/// Most entries judged.
const MAX_ACES: usize = 4096;

const SYSTEM: &str = "S-1-5-18";
const ADMINISTRATORS: &str = "S-1-5-32-544";

/// Rights that read what a file holds (or everything).
const READ_MASK: u32 = 0x0000_0001 // FILE_READ_DATA / FILE_LIST_DIRECTORY
    | 0x8000_0000 // GENERIC_READ
    | 0x1000_0000 // GENERIC_ALL
    | 0x0200_0000; // MAXIMUM_ALLOWED
/// Rights that change the folder, its files or who may read them.
const CHANGE_MASK: u32 = 0x0000_0002 // FILE_WRITE_DATA / FILE_ADD_FILE
    | 0x0000_0004 // FILE_APPEND_DATA / FILE_ADD_SUBDIRECTORY
    | 0x0000_0040 // FILE_DELETE_CHILD
    | 0x0001_0000 // DELETE
    | 0x0004_0000 // WRITE_DAC
    | 0x0008_0000 // WRITE_OWNER
    | 0x4000_0000 // GENERIC_WRITE
    | 0x1000_0000 // GENERIC_ALL
    | 0x0200_0000; // MAXIMUM_ALLOWED

/// Why an SDDL text could not be judged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DaclError {
    #[error("the security descriptor text is longer than {MAX_SDDL} bytes")]
    TooLong,
    #[error("the security descriptor has more than {MAX_ACES} access entries")]
    TooManyAces,
    #[error("unbalanced parentheses in the security descriptor")]
    Unbalanced,
    #[error("unreadable access entry ({0})")]
    BadAce(String),
}

/// Whether an entry grants or denies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AceKind {
    Allow,
    Deny,
}

/// One access entry: kind, SDDL flags (`OICI`, `ID`...), access mask and
/// the account (SID or SDDL alias as written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ace {
    pub kind: AceKind,
    pub flags: String,
    pub mask: u32,
    pub sid: String,
}

/// A DACL: `present` false is a NULL DACL (no access control at all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dacl {
    pub present: bool,
    pub protected: bool,
    pub aces: Vec<Ace>,
}

/// An account other than SYSTEM and Administrators that the DACL lets in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The SID or SDDL alias (`WD` is Everyone, `BU` Users...).
    pub sid: String,
    pub read: bool,
    pub change: bool,
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match (self.read, self.change) {
            (true, true) => "read and change",
            (true, false) => "read",
            _ => "change",
        };
        write!(f, "{} ({}) may {what}", self.sid, alias_name(&self.sid))
    }
}

/// The accounts of [`Grant`]s in one line, for an error or a warning.
pub fn describe(grants: &[Grant]) -> String {
    let v: Vec<String> = grants.iter().map(Grant::to_string).collect();
    v.join("; ")
}

fn alias_name(sid: &str) -> &'static str {
    match canonical_sid(sid) {
        "S-1-1-0" => "Everyone",
        "S-1-5-11" => "Authenticated Users",
        "S-1-5-32-545" => "Users",
        "S-1-5-32-546" => "Guests",
        "S-1-3-0" => "Creator Owner",
        "S-1-3-4" => "Owner Rights",
        "S-1-5-4" => "Interactive",
        "S-1-5-19" => "Local Service",
        "S-1-5-20" => "Network Service",
        "S-1-5-7" => "Anonymous",
        _ => "an account",
    }
}

/// The SID an SDDL alias stands for (the aliases that matter here).
fn canonical_sid(sid: &str) -> &str {
    match sid {
        "SY" => SYSTEM,
        "BA" => ADMINISTRATORS,
        "WD" => "S-1-1-0",
        "AU" => "S-1-5-11",
        "BU" => "S-1-5-32-545",
        "BG" => "S-1-5-32-546",
        "CO" => "S-1-3-0",
        "OW" => "S-1-3-4",
        "IU" => "S-1-5-4",
        "LS" => "S-1-5-19",
        "NS" => "S-1-5-20",
        "AN" => "S-1-5-7",
        other => other,
    }
}

/// The accounts besides SYSTEM, Administrators and `me` (the SID the
/// agent runs as, when known) that `dacl` lets read or change the folder,
/// one entry per account (rights merged).
pub fn others(dacl: &Dacl, me: Option<&str>) -> Vec<Grant> {
    if !dacl.present {
        return vec![Grant {
            sid: "WD".into(),
            read: true,
            change: true,
        }];
    }
    let mut out: Vec<Grant> = Vec::new();
    for ace in dacl.aces.iter().filter(|a| a.kind == AceKind::Allow) {
        let sid = canonical_sid(&ace.sid);
        if sid == SYSTEM || sid == ADMINISTRATORS || me.is_some_and(|m| canonical_sid(m) == sid) {
            continue;
        }
        let (read, change) = (ace.mask & READ_MASK != 0, ace.mask & CHANGE_MASK != 0);
        if !read && !change {
            continue;
        }
        match out.iter_mut().find(|g| canonical_sid(&g.sid) == sid) {
            Some(g) => {
                g.read |= read;
                g.change |= change;
            }
            None => out.push(Grant {
                sid: ace.sid.clone(),
                read,
                change,
            }),
        }
    }
    out
}

/// The DACL part of an SDDL text.
pub fn parse(sddl: &str) -> Result<Dacl, DaclError> {
    if sddl.len() > MAX_SDDL {
        return Err(DaclError::TooLong);
    }
    let Some(section) = dacl_section(sddl)? else {
        return Ok(Dacl {
            present: false,
            protected: false,
            aces: Vec::new(),
        });
    };
    let (flags, entries) = match section.find('(') {
        Some(i) => section.split_at(i),
        None => (section, ""),
    };
    // DACL flags: P (protected), AI, AR, NO_ACCESS_CONTROL; nothing else.
    let rest = flags.replace("NO_ACCESS_CONTROL", "");
    if !rest.chars().all(|c| matches!(c, 'P' | 'A' | 'I' | 'R')) {
        return Err(DaclError::BadAce(flags.chars().take(40).collect()));
    }
    let protected = rest.contains('P');
    if flags.contains("NO_ACCESS_CONTROL") {
        return Ok(Dacl {
            present: false,
            protected,
            aces: Vec::new(),
        });
    }
    let mut aces = Vec::new();
    for text in split_entries(entries)? {
        if aces.len() == MAX_ACES {
            return Err(DaclError::TooManyAces);
        }
        aces.push(parse_ace(text)?);
    }
    Ok(Dacl {
        present: true,
        protected,
        aces,
    })
}

/// The text after `D:` up to the next top-level section, if any.
fn dacl_section(sddl: &str) -> Result<Option<&str>, DaclError> {
    let b = sddl.as_bytes();
    let mut depth = 0usize;
    let mut start = None;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'(' => depth += 1,
            b')' => depth = depth.checked_sub(1).ok_or(DaclError::Unbalanced)?,
            b':' if depth == 0 && i > 0 => {
                let tag = b.get(i - 1).copied();
                if let Some(s) = start {
                    if matches!(tag, Some(b'O' | b'G' | b'S')) {
                        return Ok(sddl.get(s..i - 1));
                    }
                } else if tag == Some(b'D') {
                    start = Some(i + 1);
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(DaclError::Unbalanced);
    }
    Ok(start.and_then(|s| sddl.get(s..)))
}

/// `(..)(..)` into the texts between the outer parentheses.
fn split_entries(s: &str) -> Result<Vec<&str>, DaclError> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut open = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => {
                if depth == 0 {
                    open = i + 1;
                }
                depth += 1;
            }
            ')' => {
                depth = depth.checked_sub(1).ok_or(DaclError::Unbalanced)?;
                if depth == 0 {
                    out.push(s.get(open..i).ok_or(DaclError::Unbalanced)?);
                }
            }
            c if depth == 0 && !c.is_whitespace() => {
                return Err(DaclError::BadAce(s.chars().take(40).collect()))
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(DaclError::Unbalanced);
    }
    Ok(out)
}

/// `type;flags;rights;object;inherited object;sid[;attributes]`.
fn parse_ace(text: &str) -> Result<Ace, DaclError> {
    let bad = || DaclError::BadAce(text.chars().take(80).collect());
    let f: Vec<&str> = text.splitn(7, ';').collect();
    let (Some(kind), Some(flags), Some(rights), Some(sid)) =
        (f.first(), f.get(1), f.get(2), f.get(5))
    else {
        return Err(bad());
    };
    let kind = match kind.trim() {
        "A" | "OA" | "XA" | "ZA" => AceKind::Allow,
        "D" | "OD" | "XD" => AceKind::Deny,
        _ => return Err(bad()),
    };
    let sid = sid.trim();
    if sid.is_empty() {
        return Err(bad());
    }
    Ok(Ace {
        kind,
        flags: flags.trim().to_string(),
        mask: parse_rights(rights.trim()).ok_or_else(bad)?,
        sid: sid.to_string(),
    })
}

/// An SDDL rights field: a number (`0x1f01ff`) or two-letter codes.
fn parse_rights(r: &str) -> Option<u32> {
    if let Some(hex) = r.strip_prefix("0x").or_else(|| r.strip_prefix("0X")) {
        return u32::from_str_radix(hex, 16).ok();
    }
    if !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()) {
        return r.parse().ok();
    }
    let b = r.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .try_fold(0u32, |acc, code| Some(acc | right_code(code)?))
}

fn right_code(code: &[u8]) -> Option<u32> {
    Some(match code {
        b"GA" => 0x1000_0000,
        b"GR" => 0x8000_0000,
        b"GW" => 0x4000_0000,
        b"GX" => 0x2000_0000,
        b"RC" => 0x0002_0000,
        b"SD" => 0x0001_0000,
        b"WD" => 0x0004_0000,
        b"WO" => 0x0008_0000,
        b"FA" => 0x001F_01FF,
        b"FR" => 0x0012_0089,
        b"FW" => 0x0012_0116,
        b"FX" => 0x0012_00A0,
        b"KA" => 0x000F_003F,
        b"KR" | b"KX" => 0x0002_0019,
        b"KW" => 0x0002_0006,
        b"CC" => 0x1,
        b"DC" => 0x2,
        b"LC" => 0x4,
        b"SW" => 0x8,
        b"RP" => 0x10,
        b"WP" => 0x20,
        b"DT" => 0x40,
        b"LO" => 0x80,
        b"CR" => 0x100,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(sddl: &str) -> Vec<Grant> {
        others(&parse(sddl).unwrap(), None)
    }

    #[test]
    fn the_private_list_lets_no_one_else_in() {
        let d = parse(PRIVATE_SDDL).unwrap();
        assert!(d.present && d.protected);
        assert_eq!(d.aces.len(), 2);
        assert_eq!(d.aces[0].mask, 0x1F01FF);
        assert_eq!(d.aces[0].flags, "OICI");
        assert!(others(&d, None).is_empty());
        // As Windows writes it back, with owner and group, SIDs numeric.
        let back = "O:BAG:SYD:PAI(A;OICI;FA;;;S-1-5-18)(A;OICI;FA;;;S-1-5-32-544)";
        assert!(who(back).is_empty());
        assert!(parse(back).unwrap().protected);
    }

    #[test]
    fn program_data_default_lets_users_read() {
        // %ProgramData% on Windows 10 (recorded): Users read and create,
        // Creator Owner full control of what it creates.
        let sddl = "O:SYG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICIIO;GA;;;CO)\
                    (A;OICI;0x1200a9;;;BU)(A;CI;LCSWWP;;;BU)";
        let g = who(sddl);
        assert_eq!(g.len(), 2, "{g:?}");
        assert_eq!(g[0].sid, "CO");
        assert!(g[0].read && g[0].change);
        assert_eq!(g[1].sid, "BU");
        assert!(g[1].read && g[1].change, "{g:?}");
        assert!(describe(&g).contains("BU (Users) may read and change"));
    }

    #[test]
    fn wine_unix_mode_descriptor_is_open() {
        // Wine's descriptor for a 0755 folder on Z: (recorded, Wine 8).
        let sddl =
            "O:S-1-5-21-0-0-0-1000G:S-1-5-21-0-0-0-1000D:(A;;0x1f01ff;;;S-1-5-21-0-0-0-1000)\
                    (A;;0x1200a9;;;WD)";
        let g = who(sddl);
        assert_eq!(g.len(), 2);
        assert!(g[0].read && g[0].change);
        assert_eq!(g[1].sid, "WD");
        assert!(g[1].read && !g[1].change);
        assert!(describe(&g).contains("WD (Everyone) may read"));
        // Run as that user (Wine's only account), only Everyone is left.
        let me = others(&parse(sddl).unwrap(), Some("S-1-5-21-0-0-0-1000"));
        assert_eq!(me.len(), 1);
        assert_eq!(me[0].sid, "WD");
    }

    #[test]
    fn wine_private_folder_is_system_and_the_wine_user() {
        // What Wine 8 reads back after kensa created a folder with
        // PRIVATE_SDDL (recorded): Wine keeps no access list, it maps it
        // to Unix mode 0750 and derives SYSTEM plus the owner from that.
        let sddl = "O:S-1-5-21-0-0-0-1000G:S-1-5-21-0-0-0-513D:(A;OICI;FA;;;SY)\
                    (A;OICI;FA;;;S-1-5-21-0-0-0-1000)";
        let d = parse(sddl).unwrap();
        assert!(!d.protected);
        assert!(others(&d, Some("S-1-5-21-0-0-0-1000")).is_empty());
        // Anyone else running kensa would see the Wine user as another.
        assert_eq!(others(&d, Some("S-1-5-18")).len(), 1);
    }

    #[test]
    fn traverse_and_attributes_only_and_deny_entries_do_not_count() {
        // Execute/traverse, read attributes and read control: no content.
        assert!(who("D:P(A;;FA;;;SY)(A;;0x1200a0;;;BU)").is_empty());
        assert!(who("D:P(A;;FA;;;BA)(D;OICI;FA;;;WD)").is_empty());
        // A right to rewrite the list is as bad as reading.
        let g = who("D:P(A;;FA;;;SY)(A;;WD;;;AU)");
        assert!(!g[0].read && g[0].change);
    }

    #[test]
    fn rights_merge_per_account_and_aliases_meet_sids() {
        let g = who("D:(A;;FR;;;S-1-5-32-545)(A;;FW;;;BU)(A;;FA;;;S-1-5-18)");
        assert_eq!(g.len(), 1);
        assert!(g[0].read && g[0].change);
    }

    #[test]
    fn a_missing_dacl_lets_everyone_in() {
        for s in [
            "O:BAG:SY",
            "D:NO_ACCESS_CONTROL",
            "O:BAD:PNO_ACCESS_CONTROL",
        ] {
            let g = who(s);
            assert_eq!(g.len(), 1, "{s}");
            assert!(g[0].read && g[0].change, "{s}");
        }
        // An empty DACL lets no one in.
        assert!(who("D:P").is_empty());
    }

    #[test]
    fn sections_after_the_dacl_and_conditions_are_handled() {
        let s = "O:BAG:SYD:P(A;;FA;;;SY)(XA;;FR;;;WD;(@User.Title==\"PM\"))S:(ML;;NW;;;LW)";
        let d = parse(s).unwrap();
        assert_eq!(d.aces.len(), 2);
        assert_eq!(who(s)[0].sid, "WD");
    }

    #[test]
    fn malformed_text_is_an_error_not_a_pass() {
        assert_eq!(parse("D:(A;;FA;;;SY"), Err(DaclError::Unbalanced));
        assert!(matches!(parse("D:(A;;FA;;)"), Err(DaclError::BadAce(_))));
        assert!(matches!(parse("D:(Q;;FA;;;SY)"), Err(DaclError::BadAce(_))));
        assert!(matches!(parse("D:(A;;ZZ;;;SY)"), Err(DaclError::BadAce(_))));
        assert!(matches!(
            parse("D:x(A;;FA;;;SY)"),
            Err(DaclError::BadAce(_))
        ));
        assert_eq!(parse(&"D:".repeat(MAX_SDDL)), Err(DaclError::TooLong));
        let many = format!("D:{}", "(A;;FA;;;SY)".repeat(MAX_ACES + 1));
        assert_eq!(parse(&many), Err(DaclError::TooManyAces));
    }
}
