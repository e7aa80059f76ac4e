//! Times as people read them: every time kensa prints for a person
//! (`incidents list|show`, `triage`, `status`) is an RFC 3339 instant from a
//! record turned into local time in one zone, `report.timezone` unless
//! `--tz` says otherwise, with the zone named. JSON output keeps the stored
//! RFC 3339 text. A stored time that does not parse is shown as it is,
//! sanitised. Also parses the `--since`/`--until` bounds analysts give in
//! that zone.

use super::sanitize;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The zone to show times in: `flag` (a `--tz` value) or else the
/// configured `report.timezone`.
pub fn zone(flag: Option<&str>, configured: &str) -> Result<Tz, crate::report::UnknownTimeZone> {
    crate::report::parse_tz(flag.unwrap_or(configured))
}

fn parsed(rfc3339: &str, tz: &Tz) -> Option<DateTime<Tz>> {
    DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.with_timezone(tz))
}

/// `rfc3339` as local time in `tz` to the second, with the zone's
/// abbreviation (`2019-05-10 12:00:00 JST`), or sanitised as it is when it
/// does not parse.
pub fn local(rfc3339: &str, tz: &Tz) -> String {
    match parsed(rfc3339, tz) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S %Z").to_string(),
        None => sanitize(rfc3339).into_owned(),
    }
}

/// `rfc3339` as local time in `tz` to the minute, for a table whose header
/// names the zone ([`header`]); sanitised as it is when it does not parse.
pub fn local_minute(rfc3339: &str, tz: &Tz) -> String {
    match parsed(rfc3339, tz) {
        Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
        None => sanitize(rfc3339).into_owned(),
    }
}

/// A column header naming the zone its times are in: `TIME (Asia/Tokyo)`.
pub fn header(label: &str, tz: &Tz) -> String {
    format!("{label} ({})", tz.name())
}

/// A `--since`/`--until` value that is neither a date nor an RFC 3339 time.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 time (2019-05-10T12:00:00+09:00)")]
pub struct BadBound(pub String);

/// Which end of a period a bound is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// `--since`: from the start of the day, or from the instant.
    Start,
    /// `--until`: through the end of the day, or through the instant.
    End,
}

/// A `--since`/`--until` value as the half-open bound in UTC it stands for:
/// a date (`YYYY-MM-DD`, a day in `tz`) starts at its midnight (`Start`)
/// or ends before the next midnight (`End`); an RFC 3339 time is itself
/// (`Start`) or its next millisecond (`End`, so the instant is included).
pub fn bound(text: &str, tz: &Tz, end: End) -> Result<DateTime<Utc>, BadBound> {
    let bad = || BadBound(sanitize(text).into_owned());
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        let t = t.with_timezone(&Utc);
        return match end {
            End::Start => Ok(t),
            End::End => t
                .checked_add_signed(chrono::Duration::milliseconds(1))
                .ok_or_else(bad),
        };
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad())?;
    let day = match end {
        End::Start => date,
        End::End => date.succ_opt().ok_or_else(bad)?,
    };
    let midnight = day.and_hms_opt(0, 0, 0).ok_or_else(bad)?;
    // The earliest midnight when a zone change repeats it; a zone that
    // skips midnight starts the day at its first instant after the gap.
    let local = tz
        .from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            let later = midnight.checked_add_signed(chrono::Duration::hours(1))?;
            tz.from_local_datetime(&later).earliest()
        })
        .ok_or_else(bad)?;
    Ok(local.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Tokyo;

    #[test]
    fn local_in_zone_named_or_sanitised_as_is() {
        assert_eq!(
            local("2026-04-01T00:30:00Z", &Tokyo),
            "2026-04-01 09:30:00 JST"
        );
        assert_eq!(
            local_minute("2026-04-01T00:30:00Z", &Tokyo),
            "2026-04-01 09:30"
        );
        assert_eq!(
            local("2026-04-01T00:30:00Z", &chrono_tz::UTC),
            "2026-04-01 00:30:00 UTC"
        );
        assert_eq!(local("not\ta time", &Tokyo), sanitize("not\ta time"));
        assert_eq!(header("TIME", &Tokyo), "TIME (Asia/Tokyo)");
    }

    #[test]
    fn bounds_in_zone() {
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let s = bound("2019-05-10", &Tokyo, End::Start).unwrap();
        assert_eq!(s, utc("2019-05-09T15:00:00Z"));
        let e = bound("2019-05-10", &Tokyo, End::End).unwrap();
        assert_eq!(e, utc("2019-05-10T15:00:00Z"));
        let i = bound("2019-05-10T12:00:00+09:00", &Tokyo, End::End).unwrap();
        assert_eq!(i, utc("2019-05-10T03:00:00.001Z"));
        assert!(bound("10/05/2019", &Tokyo, End::Start).is_err());
    }
}
