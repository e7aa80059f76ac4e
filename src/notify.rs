//! Telling the person at the machine the verdict on a medium: the text
//! of the notice ([`medium_notice`]: the medium by drive or mount point
//! and label, then CLEAN, INFECTED with the number of findings, or
//! INCOMPLETE with the number of files not fully checked), built by a
//! plain function of the session summary, and its delivery ([`tell`]):
//! always one log line, and on Windows with `[notify] desktop = true` a
//! message box in the active desktop session (`notify_windows`). A notice
//! that cannot be shown is logged; it never stops the agent.

use crate::findings::{Medium, Summary};

/// The verdict on one scanned medium.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediumVerdict {
    /// Every file checked, nothing found.
    Clean,
    /// This many findings (malicious or suspicious files).
    Infected(u64),
    /// Nothing found, but this many files were not fully checked, or
    /// (`stopped`) the scan did not finish: not cleared.
    Incomplete { gaps: u64, stopped: bool },
}

impl MediumVerdict {
    /// The verdict of a session, with the precedence of the scan exit
    /// codes: a finding outweighs gaps, a gap or a cut-short session
    /// outweighs clean.
    pub fn of(sum: &Summary) -> MediumVerdict {
        if sum.findings > 0 {
            MediumVerdict::Infected(sum.findings)
        } else if sum.gaps > 0 || !sum.completed {
            MediumVerdict::Incomplete {
                gaps: sum.gaps,
                stopped: !sum.completed,
            }
        } else {
            MediumVerdict::Clean
        }
    }

    /// The one-word verdict (`CLEAN`, `INFECTED`, `INCOMPLETE`).
    pub fn word(&self) -> &'static str {
        match self {
            MediumVerdict::Clean => "CLEAN",
            MediumVerdict::Infected(_) => "INFECTED",
            MediumVerdict::Incomplete { .. } => "INCOMPLETE",
        }
    }
}

/// A notice for the operator: a title and a body of plain text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub verdict: MediumVerdict,
    pub title: String,
    pub body: String,
}

/// Longest label shown (a label is untrusted medium content).
const MAX_LABEL_CHARS: usize = 40;

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// How the medium is named to the operator: `E:\ "STICK"`, or the mount
/// point alone when it has no label. Control characters in the label are
/// dropped and it is cut at [`MAX_LABEL_CHARS`].
pub fn medium_name(m: &Medium) -> String {
    let label: String = m
        .label
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_LABEL_CHARS)
        .collect();
    let label = label.trim();
    if label.is_empty() {
        m.mount_point.clone()
    } else {
        format!("{} \"{label}\"", m.mount_point)
    }
}

/// The notice of a finished session on medium `m`.
pub fn medium_notice(m: &Medium, sum: &Summary) -> Notice {
    let verdict = MediumVerdict::of(sum);
    let name = medium_name(m);
    let files = plural(sum.files, "file", "files");
    let body = match verdict {
        MediumVerdict::Clean => {
            format!("{name}: CLEAN. {files} checked, nothing found.")
        }
        MediumVerdict::Infected(n) => format!(
            "{name}: INFECTED, {}. Do not use this medium; hand it to \
             the person in charge of security.",
            plural(n, "finding", "findings")
        ),
        MediumVerdict::Incomplete { gaps, stopped } => {
            let why = match (gaps, stopped) {
                (0, _) => "the scan did not finish".to_string(),
                (g, false) => format!("{} not fully checked", plural(g, "file", "files")),
                (g, true) => format!(
                    "{} not fully checked and the scan did not finish",
                    plural(g, "file", "files")
                ),
            };
            format!("{name}: INCOMPLETE, {why}. The medium is not cleared.")
        }
    };
    Notice {
        verdict,
        title: format!("kensa: {} {name}", verdict.word()),
        body,
    }
}

/// Whether a finished session on a medium is worth a notice: the scan of
/// the whole medium always; a scan of files changed on it afterwards only
/// when it is not clean (a clean copy does not interrupt anyone).
pub fn worth_telling(whole_medium: bool, sum: &Summary) -> bool {
    whole_medium || MediumVerdict::of(sum) != MediumVerdict::Clean
}

/// Tells the operator: the verdict as a log line, and with `desktop` (on
/// Windows) as a message box; a failure of the box is logged.
pub fn tell(notice: &Notice, desktop: bool) {
    // Shown at the default log level, like the service's start line.
    let word = notice.verdict.word();
    match notice.verdict {
        MediumVerdict::Clean => {
            tracing::info!(target: crate::logging::SERVICE, verdict = word, "{}", notice.body)
        }
        _ => tracing::warn!(target: crate::logging::SERVICE, verdict = word, "{}", notice.body),
    }
    if desktop {
        desktop_notice(notice);
    }
}

#[cfg(windows)]
fn desktop_notice(notice: &Notice) {
    crate::notify_windows::deliver(notice);
}

/// Linux has no desktop notice: the log line above and the journal carry
/// the verdict (`[notify] desktop` is documented as Windows-only).
#[cfg(not(windows))]
fn desktop_notice(_notice: &Notice) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn medium(label: Option<&str>) -> Medium {
        Medium {
            mount_point: r"E:\".into(),
            device: Some(r"\\.\E:".into()),
            filesystem: Some("vfat".into()),
            label: label.map(str::to_string),
            uuid: None,
            serial: Some("1234-ABCD".into()),
            capacity: None,
            removable: true,
            detected_by: "sysinfo".into(),
        }
    }

    fn sum(files: u64, findings: u64, gaps: u64, completed: bool) -> Summary {
        Summary {
            v: 1,
            session: "s".into(),
            time: "t".into(),
            files,
            bytes: 0,
            findings,
            skips: gaps,
            gaps,
            seconds: 0.5,
            completed,
            error: None,
        }
    }

    #[test]
    fn verdict_texts() {
        let m = medium(Some("STICK"));
        let n = medium_notice(&m, &sum(12, 0, 0, true));
        assert_eq!(n.verdict, MediumVerdict::Clean);
        assert_eq!(n.title, "kensa: CLEAN E:\\ \"STICK\"");
        assert_eq!(
            n.body,
            "E:\\ \"STICK\": CLEAN. 12 files checked, nothing found."
        );
        let n = medium_notice(&m, &sum(3, 1, 2, true));
        assert_eq!(n.verdict, MediumVerdict::Infected(1));
        assert!(n
            .body
            .starts_with("E:\\ \"STICK\": INFECTED, 1 finding. Do not use"));
        let n = medium_notice(&m, &sum(3, 0, 2, true));
        assert_eq!(
            n.body,
            "E:\\ \"STICK\": INCOMPLETE, 2 files not fully checked. The medium is not cleared."
        );
        let n = medium_notice(&m, &sum(1, 0, 0, false));
        assert_eq!(n.title, "kensa: INCOMPLETE E:\\ \"STICK\"");
        assert!(n.body.contains("the scan did not finish"), "{}", n.body);
        let n = medium_notice(&m, &sum(1, 0, 1, false));
        assert!(n
            .body
            .contains("1 file not fully checked and the scan did not finish"));
        assert_eq!(
            medium_notice(&m, &sum(9, 4, 0, true)).title,
            "kensa: INFECTED E:\\ \"STICK\""
        );
    }

    #[test]
    fn labels_are_shown_safely() {
        assert_eq!(medium_name(&medium(None)), r"E:\");
        assert_eq!(medium_name(&medium(Some("  "))), r"E:\");
        assert_eq!(medium_name(&medium(Some("A\r\nB\x07"))), "E:\\ \"AB\"");
        let long = "X".repeat(500);
        assert_eq!(medium_name(&medium(Some(&long))).len(), 3 + 1 + 2 + 40);
    }

    #[test]
    fn which_sessions_are_told() {
        assert!(worth_telling(true, &sum(5, 0, 0, true)));
        assert!(!worth_telling(false, &sum(5, 0, 0, true)));
        assert!(worth_telling(false, &sum(1, 1, 0, true)));
        assert!(worth_telling(false, &sum(1, 0, 1, true)));
    }
}
