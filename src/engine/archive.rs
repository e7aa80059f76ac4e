//! kensa's side of recursion into containers. The readers and their limits
//! live in the `kensa-unpack` crate (no YARA, so it fuzzes fast); this
//! module turns its events into kensa's terms: member names become the one
//! text form (`pathfmt::bytes_to_string`) and each gap a [`SkipReason`].

use super::pathfmt::bytes_to_string;
pub use crate::findings::SkipReason;
pub use kensa_unpack::{
    detect, identify_packer, ArchiveLimits, ContainerKind, Gap, MIB, RULE_DEPTH_BOMB,
    RULE_RATIO_BOMB, RULE_ZIP_OVERLAP,
};

/// What a site wants done with a container kensa recognises but cannot
/// open (`[archive] unsupported`): by default a recorded gap, so the verdict
/// can never be CLEAN for content kensa did not see; `Ignore` drops those
/// gaps (the session record says the policy was in force).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnsupportedPolicy {
    #[default]
    Gap,
    Ignore,
}

impl UnsupportedPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            UnsupportedPolicy::Gap => "gap",
            UnsupportedPolicy::Ignore => "ignore",
        }
    }
}

/// What [`walk`] reports, in document order (see `kensa_unpack::MemberEvent`;
/// here the chain is text and the gap a skip reason).
#[derive(Debug)]
pub enum MemberEvent<'a> {
    /// A member, fully decoded unless `complete` is false (then a `Corrupt`
    /// skip for the same chain follows). `chain` runs from the top file
    /// down, the top file's own path not included.
    Member {
        chain: &'a [String],
        data: &'a [u8],
        complete: bool,
    },
    /// Something not fully checked: `ArchiveLimit` (detail names the limit),
    /// `Encrypted`, `Corrupt` or `UnsupportedContainer`.
    Skip {
        chain: &'a [String],
        reason: SkipReason,
        detail: String,
    },
    /// A bomb (ratio, depth, overlapping zip entries): becomes a `suspicious`
    /// finding, so the scan's exit code can never be 0.
    Suspicious {
        chain: &'a [String],
        rule: &'static str,
        detail: String,
    },
}

/// The skip reason kensa records for a gap.
pub fn skip_reason(gap: Gap) -> SkipReason {
    match gap {
        Gap::Limit => SkipReason::ArchiveLimit,
        Gap::Encrypted => SkipReason::Encrypted,
        Gap::Corrupt => SkipReason::Corrupt,
        Gap::Unsupported => SkipReason::UnsupportedContainer,
    }
}

/// Walk the container in `data` (if it is one) and report every member to
/// `visit` with its chain as text. Never panics on hostile input, never
/// allocates more than the limits allow, never writes to disk.
pub fn walk(data: &[u8], limits: &ArchiveLimits, visit: &mut dyn FnMut(MemberEvent<'_>)) {
    // The text chain follows the raw one: only the changed tail is redone.
    let mut text: Vec<String> = Vec::new();
    let mut raw: Vec<Vec<u8>> = Vec::new();
    kensa_unpack::walk(data, limits, &mut |ev| {
        let chain = match &ev {
            kensa_unpack::MemberEvent::Member { chain, .. }
            | kensa_unpack::MemberEvent::Skip { chain, .. }
            | kensa_unpack::MemberEvent::Suspicious { chain, .. } => *chain,
        };
        let same = raw.iter().zip(chain).take_while(|(a, b)| a == b).count();
        raw.truncate(same);
        text.truncate(same);
        for name in &chain[same..] {
            raw.push(name.clone());
            text.push(bytes_to_string(name));
        }
        match ev {
            kensa_unpack::MemberEvent::Member { data, complete, .. } => {
                visit(MemberEvent::Member {
                    chain: &text,
                    data,
                    complete,
                })
            }
            kensa_unpack::MemberEvent::Skip { reason, detail, .. } => visit(MemberEvent::Skip {
                chain: &text,
                reason: skip_reason(reason),
                detail,
            }),
            kensa_unpack::MemberEvent::Suspicious { rule, detail, .. } => {
                visit(MemberEvent::Suspicious {
                    chain: &text,
                    rule,
                    detail,
                })
            }
        }
    });
}
