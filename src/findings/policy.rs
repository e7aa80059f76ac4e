//! Classification policy: which NISC event and causes a finding gets when it
//! is recorded. Built-in defaults (removable media → `precursor`, watched host
//! directory → `malware_infection`, cause `unknown`) are overridden by the
//! `[classification]` table of the config (defaults per location and rules
//! matching location, medium label glob and serial glob), which in turn is
//! overridden by rule metadata `kensa_event` / `kensa_cause`. An analyst's
//! triage at the collector overrides all of them. Pure logic, no I/O.
//!
//! ```toml
//! [classification]
//! removable = "precursor"          # default event for removable media
//! host = "malware_infection"       # default event for watched host dirs
//! causes = ["unknown"]             # default causes
//!
//! [[classification.rule]]
//! name = "contractor sticks"
//! label = "VENDOR-*"               # glob on the medium label (* and ?)
//! serial = "0401*"                 # glob on the medium serial
//! location = "removable"
//! causes = ["contractor_mismanagement"]
//! ```
//!
//! Rules are tried in order; for the event and for the causes separately,
//! the first matching rule that sets it wins. Globs match case-insensitively
//! (ASCII); a rule with a label or serial pattern never matches a session
//! without a medium or without that attribute.

use super::taxonomy::{Cause, Classification, Event};
use super::{Location, Match, Medium};
use serde::{Deserialize, Serialize};

/// Longest accepted glob pattern.
const MAX_PATTERN: usize = 256;
/// Metadata key a rule uses to set the event.
pub const META_EVENT: &str = "kensa_event";
/// Metadata key a rule uses to set the causes (comma-separated).
pub const META_CAUSE: &str = "kensa_cause";

/// The `[classification]` table of the config.
#[derive(Deserialize, Serialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Default event for findings on removable media (built-in: `precursor`).
    #[serde(default)]
    pub removable: Option<Event>,
    /// Default event for findings in watched host directories (built-in:
    /// `malware_infection`).
    #[serde(default)]
    pub host: Option<Event>,
    /// Default causes (built-in: `["unknown"]`).
    #[serde(default)]
    pub causes: Option<Vec<Cause>>,
    /// Override rules, tried in order.
    #[serde(default, rename = "rule")]
    pub rules: Vec<PolicyRule>,
}

/// One `[[classification.rule]]`: conditions and what to assign.
#[derive(Deserialize, Serialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    /// Free text shown in errors.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub location: Option<Location>,
    /// Glob on the medium label.
    #[serde(default)]
    pub label: Option<String>,
    /// Glob on the medium serial number.
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub event: Option<Event>,
    #[serde(default)]
    pub causes: Option<Vec<Cause>>,
}

/// Why a `[classification]` table is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("classification rule {0} assigns nothing: set `event` and/or `causes`")]
    NoAssignment(String),
    #[error("classification rule {0} has no condition: set `location`, `label` or `serial` (or change the defaults instead)")]
    NoCondition(String),
    #[error("classification rule {0}: `causes` is empty")]
    EmptyCauses(String),
    #[error("classification: default `causes` is empty")]
    EmptyDefaultCauses,
    #[error("classification rule {rule}: {field} pattern is empty or longer than {MAX_PATTERN} characters")]
    BadPattern { rule: String, field: &'static str },
}

/// A classification plus the warnings met while computing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    pub classification: Classification,
    pub warnings: Vec<String>,
}

impl PolicyRule {
    fn display_name(&self, index: usize) -> String {
        match &self.name {
            Some(n) => format!("#{} ({n:?})", index + 1),
            None => format!("#{}", index + 1),
        }
    }

    fn matches(&self, location: Location, medium: Option<&Medium>) -> bool {
        if self.location.is_some_and(|l| l != location) {
            return false;
        }
        let attr_ok = |pattern: &Option<String>, value: Option<&String>| match pattern {
            None => true,
            Some(p) => value.is_some_and(|v| glob_match(p, v)),
        };
        attr_ok(&self.label, medium.and_then(|m| m.label.as_ref()))
            && attr_ok(&self.serial, medium.and_then(|m| m.serial.as_ref()))
    }
}

impl PolicyConfig {
    /// Checks what serde cannot: rules that assign nothing or match
    /// everything, empty cause lists, unusable patterns. Unknown codes are
    /// already refused while parsing, with the list of expected codes.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.causes.as_ref().is_some_and(Vec::is_empty) {
            return Err(PolicyError::EmptyDefaultCauses);
        }
        for (i, r) in self.rules.iter().enumerate() {
            let name = r.display_name(i);
            if r.event.is_none() && r.causes.is_none() {
                return Err(PolicyError::NoAssignment(name));
            }
            if r.location.is_none() && r.label.is_none() && r.serial.is_none() {
                return Err(PolicyError::NoCondition(name));
            }
            if r.causes.as_ref().is_some_and(Vec::is_empty) {
                return Err(PolicyError::EmptyCauses(name));
            }
            for (field, p) in [("label", &r.label), ("serial", &r.serial)] {
                if let Some(p) = p {
                    if p.is_empty() || p.chars().count() > MAX_PATTERN {
                        return Err(PolicyError::BadPattern { rule: name, field });
                    }
                }
            }
        }
        Ok(())
    }
}

/// Classifies one finding. Never fails: bad rule metadata becomes a warning
/// and the config/default value stands.
pub fn classify(
    cfg: &PolicyConfig,
    location: Location,
    medium: Option<&Medium>,
    matches: &[Match],
) -> Classified {
    let (mut event, mut causes) = configured(cfg, location, medium);
    let mut meta = RuleMeta::default();
    for m in matches {
        meta.read(m);
    }
    if let Some((e, _)) = meta.event {
        event = e;
    }
    if !meta.causes.is_empty() {
        causes = meta.causes;
    }
    Classified {
        classification: Classification { event, causes },
        warnings: meta.warnings,
    }
}

/// The event and causes the config gives a finding: the location's default
/// (or the built-in one), overridden separately by the first matching rule
/// that sets each.
fn configured(
    cfg: &PolicyConfig,
    location: Location,
    medium: Option<&Medium>,
) -> (Event, Vec<Cause>) {
    let mut event = match location {
        Location::Removable => cfg.removable.unwrap_or(Event::Precursor),
        Location::Host => cfg.host.unwrap_or(Event::MalwareInfection),
    };
    let mut causes = cfg.causes.clone().unwrap_or_else(|| vec![Cause::Unknown]);
    let matching: Vec<&PolicyRule> = cfg
        .rules
        .iter()
        .filter(|r| r.matches(location, medium))
        .collect();
    if let Some(e) = matching.iter().find_map(|r| r.event) {
        event = e;
    }
    if let Some(c) = matching.iter().find_map(|r| r.causes.clone()) {
        causes = c;
    }
    (event, causes)
}

/// What the metadata of the matched rules asks for, read in match order,
/// with a warning for each value ignored.
#[derive(Default)]
struct RuleMeta<'m> {
    /// The first event set, and the rule that set it.
    event: Option<(Event, &'m str)>,
    /// Every cause set, once, in the order first seen.
    causes: Vec<Cause>,
    warnings: Vec<String>,
}

impl<'m> RuleMeta<'m> {
    /// Reads the event and cause metadata of one matched rule.
    fn read(&mut self, m: &'m Match) {
        if let Some(v) = m.meta.get(META_EVENT) {
            self.read_event(&m.rule, v);
        }
        if let Some(v) = m.meta.get(META_CAUSE) {
            self.read_causes(&m.rule, v);
        }
    }

    /// Takes the event of `rule` unless an earlier rule set one.
    fn read_event(&mut self, rule: &'m str, v: &serde_json::Value) {
        match v.as_str().map(str::parse::<Event>) {
            None => self
                .warnings
                .push(format!("rule {rule}: {META_EVENT} is not a string; ignored")),
            Some(Err(e)) => self
                .warnings
                .push(format!("rule {rule}: {META_EVENT}: {e}; ignored")),
            Some(Ok(e)) => match self.event {
                None => self.event = Some((e, rule)),
                Some((first, by)) if first != e => self.warnings.push(format!(
                    "rule {rule} sets {META_EVENT} {e}, but rule {by} already set {first}; keeping {first}"
                )),
                Some(_) => {}
            },
        }
    }

    /// Adds the comma-separated causes of `rule` not yet seen.
    fn read_causes(&mut self, rule: &str, v: &serde_json::Value) {
        let Some(s) = v.as_str() else {
            self.warnings.push(format!(
                "rule {rule}: {META_CAUSE} is not a string; ignored"
            ));
            return;
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.parse::<Cause>() {
                Ok(c) if !self.causes.contains(&c) => self.causes.push(c),
                Ok(_) => {}
                Err(e) => self
                    .warnings
                    .push(format!("rule {rule}: {META_CAUSE}: {e}; ignored")),
            }
        }
    }
}

/// Glob match with `*` (any run) and `?` (one character), ASCII
/// case-insensitive. Linear-time two-pointer algorithm, no recursion.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn medium(label: Option<&str>, serial: Option<&str>) -> Medium {
        Medium {
            mount_point: "/media/x".into(),
            label: label.map(str::to_string),
            serial: serial.map(str::to_string),
            removable: true,
            detected_by: "manual".into(),
            ..Medium::default()
        }
    }

    fn yara(rule: &str, meta: &[(&str, serde_json::Value)]) -> Match {
        Match {
            kind: "yara".into(),
            rule: rule.into(),
            namespace: "default".into(),
            tags: vec![],
            meta: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn parse(toml_text: &str) -> Result<PolicyConfig, toml::de::Error> {
        toml::from_str(toml_text)
    }

    #[test]
    fn built_in_defaults() {
        let cfg = PolicyConfig::default();
        cfg.validate().unwrap();
        let r = classify(&cfg, Location::Removable, None, &[]);
        assert_eq!(
            r.classification,
            Classification {
                event: Event::Precursor,
                causes: vec![Cause::Unknown]
            }
        );
        assert!(r.warnings.is_empty());
        let h = classify(&cfg, Location::Host, None, &[]);
        assert_eq!(h.classification.event, Event::MalwareInfection);
        assert_eq!(h.classification.causes, vec![Cause::Unknown]);
    }

    #[test]
    fn config_rules_override_defaults() {
        let cfg = parse(
            r#"
            host = "code_execution"
            [[rule]]
            name = "contractor"
            label = "VENDOR-*"
            causes = ["contractor_mismanagement"]
            [[rule]]
            serial = "04?1*"
            event = "intrusion"
            causes = ["vulnerability"]
            "#,
        )
        .unwrap();
        cfg.validate().unwrap();
        let m = medium(Some("vendor-abc"), Some("0411999"));
        let r = classify(&cfg, Location::Removable, Some(&m), &[]).classification;
        // event from the second rule (first that sets one), causes from the first
        assert_eq!(r.event, Event::Intrusion);
        assert_eq!(r.causes, vec![Cause::ContractorMismanagement]);
        let other = medium(Some("OFFICE"), None);
        let r = classify(&cfg, Location::Removable, Some(&other), &[]).classification;
        assert_eq!(
            r,
            Classification {
                event: Event::Precursor,
                causes: vec![Cause::Unknown]
            }
        );
        let r = classify(&cfg, Location::Host, None, &[]).classification;
        assert_eq!(r.event, Event::CodeExecution);
    }

    #[test]
    fn metadata_overrides_config() {
        let cfg = parse(
            r#"
            [[rule]]
            location = "removable"
            event = "other"
            causes = ["user_error"]
            "#,
        )
        .unwrap();
        let matches = [
            yara(
                "a",
                &[
                    ("kensa_event", "intrusion".into()),
                    ("kensa_cause", "suspicious_file, vulnerability".into()),
                ],
            ),
            yara(
                "b",
                &[
                    ("kensa_event", "leak".into()),
                    ("kensa_cause", "vulnerability,bogus".into()),
                ],
            ),
            yara("c", &[("kensa_event", 3.into())]),
        ];
        let r = classify(&cfg, Location::Removable, None, &matches);
        assert_eq!(r.classification.event, Event::Intrusion);
        assert_eq!(
            r.classification.causes,
            vec![Cause::SuspiciousFile, Cause::Vulnerability]
        );
        assert_eq!(r.warnings.len(), 3, "{:?}", r.warnings);
        assert!(r
            .warnings
            .iter()
            .any(|w| w.contains("bogus") && w.contains("expected one of")));
        assert!(r.warnings.iter().any(|w| w.contains("keeping intrusion")));
        assert!(r
            .warnings
            .iter()
            .any(|w| w.contains("rule c") && w.contains("not a string")));
    }

    #[test]
    fn unknown_metadata_code_keeps_config_value() {
        let r = classify(
            &PolicyConfig::default(),
            Location::Host,
            None,
            &[yara("x", &[("kensa_event", "meltdown".into())])],
        );
        assert_eq!(r.classification.event, Event::MalwareInfection);
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].contains("meltdown"));
    }

    #[test]
    fn unknown_codes_in_config_are_errors() {
        let e = parse("removable = \"sabotage\"").unwrap_err().to_string();
        assert!(e.contains("sabotage") && e.contains("precursor"), "{e}");
        let e = parse("[[rule]]\nlabel=\"A\"\ncauses=[\"aliens\"]")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("aliens") && e.contains("contractor_mismanagement"),
            "{e}"
        );
        let e = parse("[[rule]]\nlabel=\"A\"\ncolour=\"red\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn validation() {
        let cfg = parse("[[rule]]\nlabel=\"A\"").unwrap();
        assert_eq!(cfg.validate(), Err(PolicyError::NoAssignment("#1".into())));
        let cfg = parse("[[rule]]\nname=\"all\"\nevent=\"other\"").unwrap();
        assert!(matches!(cfg.validate(), Err(PolicyError::NoCondition(n)) if n.contains("all")));
        let cfg = parse("[[rule]]\nlabel=\"A\"\ncauses=[]").unwrap();
        assert_eq!(cfg.validate(), Err(PolicyError::EmptyCauses("#1".into())));
        let cfg = parse("[[rule]]\nlabel=\"\"\nevent=\"other\"").unwrap();
        assert!(matches!(
            cfg.validate(),
            Err(PolicyError::BadPattern { field: "label", .. })
        ));
        let cfg = parse("causes=[]").unwrap();
        assert_eq!(cfg.validate(), Err(PolicyError::EmptyDefaultCauses));
    }

    #[test]
    fn globs() {
        assert!(glob_match("VENDOR-*", "vendor-"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(!glob_match("a*b", "aXbX"));
        assert!(glob_match("*b", "aXbXb"));
        assert!(glob_match("ボリューム*", "ボリューム1"));
        let long = "a".repeat(10_000);
        assert!(!glob_match("*a*a*a*b", &long));
    }
}
