//! The NISC event/cause taxonomy: every code kensa uses, with its group and
//! the seed document's Japanese label and an English label. This is the one
//! place the taxonomy lives; reports and triage take their rows from here.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which kind of event (事象の種類) an incident is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Precursor,
    Leak,
    Destruction,
    Outage,
    MalwareInfection,
    CodeExecution,
    Intrusion,
    Other,
}

/// What caused an incident (原因別類型); several may apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    SuspiciousMail,
    IdSpoofing,
    Dos,
    InfoTheft,
    Insider,
    ImproperOperation,
    UserError,
    UserMismanagement,
    SuspiciousFile,
    SuspiciousSite,
    ContractorMismanagement,
    EquipmentFailure,
    Vulnerability,
    Spillover,
    Disaster,
    Other,
    Unknown,
}

/// One row of a taxonomy table: code, group and labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<T: 'static> {
    pub code: T,
    pub slug: &'static str,
    pub group_ja: &'static str,
    pub group_en: &'static str,
    pub label_ja: &'static str,
    pub label_en: &'static str,
}

macro_rules! entry {
    ($code:expr, $slug:literal, $gja:literal, $gen:literal, $lja:literal, $len:literal) => {
        Entry {
            code: $code,
            slug: $slug,
            group_ja: $gja,
            group_en: $gen,
            label_ja: $lja,
            label_en: $len,
        }
    };
}

/// Event rows in the seed's order.
pub const EVENTS: &[Entry<Event>] = &[
    entry!(
        Event::Precursor,
        "precursor",
        "未発生",
        "Not occurred",
        "予兆・ヒヤリハット",
        "Precursor / near miss"
    ),
    entry!(
        Event::Leak,
        "leak",
        "機密性を脅かす事象",
        "Threats to confidentiality",
        "情報の漏えい",
        "Information leakage"
    ),
    entry!(
        Event::Destruction,
        "destruction",
        "完全性を脅かす事象",
        "Threats to integrity",
        "情報の破壊",
        "Destruction of information"
    ),
    entry!(
        Event::Outage,
        "outage",
        "可用性を脅かす事象",
        "Threats to availability",
        "システム等の利用困難",
        "Systems unavailable"
    ),
    entry!(
        Event::MalwareInfection,
        "malware_infection",
        "上記につながる事象",
        "Events leading to the above",
        "マルウェア等の感染",
        "Malware infection"
    ),
    entry!(
        Event::CodeExecution,
        "code_execution",
        "上記につながる事象",
        "Events leading to the above",
        "不正コード等の実行",
        "Execution of unauthorized code"
    ),
    entry!(
        Event::Intrusion,
        "intrusion",
        "上記につながる事象",
        "Events leading to the above",
        "システム等への侵入",
        "Intrusion into systems"
    ),
    entry!(Event::Other, "other", "その他", "Other", "その他", "Other"),
];

/// Cause rows in the seed's order.
pub const CAUSES: &[Entry<Cause>] = &[
    entry!(
        Cause::SuspiciousMail,
        "suspicious_mail",
        "意図的な原因",
        "Intentional causes",
        "不審メール等の受信",
        "Suspicious mail received"
    ),
    entry!(
        Cause::IdSpoofing,
        "id_spoofing",
        "意図的な原因",
        "Intentional causes",
        "ユーザID等の偽り",
        "Spoofed user ID"
    ),
    entry!(
        Cause::Dos,
        "dos",
        "意図的な原因",
        "Intentional causes",
        "DoS攻撃等の大量アクセス",
        "DoS / mass access"
    ),
    entry!(
        Cause::InfoTheft,
        "info_theft",
        "意図的な原因",
        "Intentional causes",
        "情報の不正取得",
        "Unauthorized acquisition of information"
    ),
    entry!(
        Cause::Insider,
        "insider",
        "意図的な原因",
        "Intentional causes",
        "内部不正",
        "Insider wrongdoing"
    ),
    entry!(
        Cause::ImproperOperation,
        "improper_operation",
        "意図的な原因",
        "Intentional causes",
        "適切なシステム等運用の未実施",
        "Proper operation not carried out"
    ),
    entry!(
        Cause::UserError,
        "user_error",
        "偶発的な原因",
        "Accidental causes",
        "ユーザの操作ミス",
        "User operation error"
    ),
    entry!(
        Cause::UserMismanagement,
        "user_mismanagement",
        "偶発的な原因",
        "Accidental causes",
        "ユーザの管理ミス",
        "User management error"
    ),
    entry!(
        Cause::SuspiciousFile,
        "suspicious_file",
        "偶発的な原因",
        "Accidental causes",
        "不審なファイルの実行",
        "Suspicious file executed"
    ),
    entry!(
        Cause::SuspiciousSite,
        "suspicious_site",
        "偶発的な原因",
        "Accidental causes",
        "不審なサイトの閲覧",
        "Suspicious site browsed"
    ),
    entry!(
        Cause::ContractorMismanagement,
        "contractor_mismanagement",
        "偶発的な原因",
        "Accidental causes",
        "外部委託先の管理ミス",
        "Contractor management error"
    ),
    entry!(
        Cause::EquipmentFailure,
        "equipment_failure",
        "偶発的な原因",
        "Accidental causes",
        "機器等の故障",
        "Equipment failure"
    ),
    entry!(
        Cause::Vulnerability,
        "vulnerability",
        "偶発的な原因",
        "Accidental causes",
        "システムの脆弱性",
        "System vulnerability"
    ),
    entry!(
        Cause::Spillover,
        "spillover",
        "他分野の障害からの波及",
        "Spillover from other sectors",
        "他分野の障害からの波及",
        "Spillover from another sector"
    ),
    entry!(
        Cause::Disaster,
        "disaster",
        "環境的な原因",
        "Environmental causes",
        "災害や疾病等",
        "Disaster, disease"
    ),
    entry!(
        Cause::Other,
        "other",
        "その他の原因",
        "Other causes",
        "その他",
        "Other"
    ),
    entry!(
        Cause::Unknown,
        "unknown",
        "その他の原因",
        "Other causes",
        "不明",
        "Unknown"
    ),
];

impl Event {
    pub fn entry(self) -> &'static Entry<Event> {
        EVENTS
            .iter()
            .find(|e| e.code == self)
            .expect("every event has a row")
    }
    pub fn slug(self) -> &'static str {
        self.entry().slug
    }
}

impl Cause {
    pub fn entry(self) -> &'static Entry<Cause> {
        CAUSES
            .iter()
            .find(|e| e.code == self)
            .expect("every cause has a row")
    }
    pub fn slug(self) -> &'static str {
        self.entry().slug
    }
}

/// A code that is not in the taxonomy.
#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} code {code:?}; expected one of: {expected}")]
pub struct UnknownCode {
    pub kind: &'static str,
    pub code: String,
    pub expected: String,
}

fn parse_slug<T: Copy + 'static>(
    table: &[Entry<T>],
    kind: &'static str,
    s: &str,
) -> Result<T, UnknownCode> {
    table
        .iter()
        .find(|e| e.slug == s.trim())
        .map(|e| e.code)
        .ok_or_else(|| UnknownCode {
            kind,
            code: s.to_string(),
            expected: table.iter().map(|e| e.slug).collect::<Vec<_>>().join(", "),
        })
}

impl FromStr for Event {
    type Err = UnknownCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_slug(EVENTS, "event", s)
    }
}

impl FromStr for Cause {
    type Err = UnknownCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_slug(CAUSES, "cause", s)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// An event plus one or more causes, as assigned by policy or by triage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    pub event: Event,
    pub causes: Vec<Cause>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_round_trip() {
        for e in EVENTS {
            assert_eq!(e.slug.parse::<Event>().unwrap(), e.code);
            assert_eq!(
                serde_json::to_string(&e.code).unwrap(),
                format!("\"{}\"", e.slug)
            );
        }
        for c in CAUSES {
            assert_eq!(c.slug.parse::<Cause>().unwrap(), c.code);
            assert_eq!(
                serde_json::to_string(&c.code).unwrap(),
                format!("\"{}\"", c.slug)
            );
        }
        assert!("nonsense".parse::<Cause>().is_err());
    }
}
