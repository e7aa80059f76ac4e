//! Japanese fiscal periods: FY N runs from 1 April N to 31 March N+1, split
//! into 1Q (Apr–Jun), 2Q (Jul–Sep), 3Q (Oct–Dec) and 4Q (Jan–Mar). An instant
//! is placed in a period by its local date in the report's time zone. Also
//! the rules for a `--fy` value: four digits, not a year that has not begun.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike};

/// A fiscal year and quarter (1..=4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FiscalQuarter {
    pub fy: i32,
    pub quarter: u8,
}

/// The fiscal year and quarter of a local calendar date.
pub fn of_date(d: NaiveDate) -> FiscalQuarter {
    let m = d.month() as i32;
    let fy = if m >= 4 { d.year() } else { d.year() - 1 };
    let quarter = ((m - 4).rem_euclid(12) / 3 + 1) as u8;
    FiscalQuarter { fy, quarter }
}

/// The local date of an instant in time zone `tz`, and its fiscal quarter.
pub fn of_instant<Tz: TimeZone>(
    t: &DateTime<Tz>,
    tz: &chrono_tz::Tz,
) -> (NaiveDate, FiscalQuarter) {
    let date = t.with_timezone(tz).date_naive();
    (date, of_date(date))
}

/// First and last local date of a fiscal quarter; `None` for quarters
/// outside 1..=4 or years chrono cannot represent.
pub fn quarter_dates(fy: i32, quarter: u8) -> Option<(NaiveDate, NaiveDate)> {
    if !(1..=4).contains(&quarter) {
        return None;
    }
    let start_month = 4 + 3 * (quarter as u32 - 1);
    let (y, m) = if start_month > 12 {
        (fy + 1, start_month - 12)
    } else {
        (fy, start_month)
    };
    let start = NaiveDate::from_ymd_opt(y, m, 1)?;
    let (ny, nm) = if m + 3 > 12 {
        (y + 1, m + 3 - 12)
    } else {
        (y, m + 3)
    };
    let end = NaiveDate::from_ymd_opt(ny, nm, 1)?.pred_opt()?;
    Some((start, end))
}

/// True once a quarter has closed: its last day is on or before `as_of`.
/// A quarter still in progress is not reported (the seed's 2019-07-19 report
/// shows 2Q as —).
pub fn quarter_closed(fy: i32, quarter: u8, as_of: NaiveDate) -> bool {
    quarter_dates(fy, quarter).is_some_and(|(_, end)| end <= as_of)
}

/// The quarter still running on `as_of` (begun, not closed), 1..=4, if it
/// belongs to fiscal year `fy`.
pub fn open_quarter(fy: i32, as_of: NaiveDate) -> Option<u8> {
    let fq = of_date(as_of);
    (fq.fy == fy && !quarter_closed(fy, fq.quarter, as_of)).then_some(fq.quarter)
}

/// The first instant whose local date in `tz` is `date` or later: local
/// midnight, or the end of a clock change that skips it. Local dates never
/// go back across a midnight in the time-zone database's zones, so the
/// instants of the dates from `a` up to `b` are exactly
/// `[day_start(a), day_start(b + 1))`, which is how the store counts
/// periods (`None` for dates chrono cannot represent).
pub fn day_start(date: NaiveDate, tz: &chrono_tz::Tz) -> Option<DateTime<chrono::Utc>> {
    let naive = date.and_hms_opt(0, 0, 0)?.and_utc();
    // Offsets are within ±26 hours: before `lo` the local date is earlier,
    // from `hi` on it is not.
    let mut lo = naive.checked_sub_signed(chrono::Duration::hours(27))?;
    let mut hi = naive.checked_add_signed(chrono::Duration::hours(27))?;
    let local = |t: DateTime<chrono::Utc>| t.with_timezone(tz).date_naive();
    // Clock changes fall on whole seconds.
    while (hi - lo).num_seconds() > 1 {
        let mid = lo + (hi - lo) / 2;
        let mid = mid.with_nanosecond(0).unwrap_or(mid);
        if local(mid) >= date {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// A `--fy` value that is not a fiscal year kensa can report.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FyError {
    #[error("{0:?} is not a fiscal year: give four digits, such as 2019")]
    NotFourDigits(String),
    #[error("--fy {fy} is in the future: FY{fy} begins on {fy}-04-01, and on {as_of} the current fiscal year is FY{current}")]
    Future {
        fy: i32,
        as_of: NaiveDate,
        current: i32,
    },
}

/// Parses a `--fy` value: exactly four ASCII digits, the first not 0.
pub fn parse_fy(text: &str) -> Result<i32, FyError> {
    let ok = text.len() == 4 && text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0');
    match text.parse::<i32>() {
        Ok(y) if ok => Ok(y),
        _ => Err(FyError::NotFourDigits(text.to_string())),
    }
}

/// The fiscal year a report defaults to: the one `as_of` falls in.
pub fn current_fy(as_of: NaiveDate) -> i32 {
    of_date(as_of).fy
}

/// Refuses a fiscal year that has not begun on `as_of`.
pub fn check_not_future(fy: i32, as_of: NaiveDate) -> Result<(), FyError> {
    let current = current_fy(as_of);
    if fy > current {
        return Err(FyError::Future { fy, as_of, current });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Tokyo;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn dates_to_quarters() {
        // Each quarter's first and last day, and the next year's start.
        let cases = [
            (d(2019, 4, 1), 2019, 1),
            (d(2019, 6, 30), 2019, 1),
            (d(2019, 7, 1), 2019, 2),
            (d(2019, 9, 30), 2019, 2),
            (d(2019, 10, 1), 2019, 3),
            (d(2019, 12, 31), 2019, 3),
            (d(2020, 1, 1), 2019, 4),
            (d(2020, 3, 31), 2019, 4),
            (d(2020, 4, 1), 2020, 1),
        ];
        for (date, fy, quarter) in cases {
            assert_eq!(of_date(date), FiscalQuarter { fy, quarter }, "{date}");
        }
    }

    fn t0() -> DateTime<chrono::FixedOffset> {
        DateTime::parse_from_rfc3339("2019-03-31T15:00:00Z").unwrap()
    }

    #[test]
    fn days_start_at_local_midnight_or_after_a_skipped_one() {
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        assert_eq!(
            day_start(d(2019, 4, 1), &Tokyo),
            Some(utc("2019-03-31T15:00:00Z"))
        );
        // Chile moved its clocks from 00:00 to 01:00 on 2019-09-08: the
        // day began at 01:00 local, 04:00 UTC.
        let santiago = chrono_tz::America::Santiago;
        assert_eq!(
            day_start(d(2019, 9, 8), &santiago),
            Some(utc("2019-09-08T04:00:00Z"))
        );
        // Brazil moved its clocks from 00:00 back to 23:00 on 2019-02-17:
        // the 16th's last hour twice, then the 17th at 03:00 UTC.
        let sao_paulo = chrono_tz::America::Sao_Paulo;
        let start = day_start(d(2019, 2, 17), &sao_paulo).unwrap();
        assert_eq!(start, utc("2019-02-17T03:00:00Z"));
        let before = start - chrono::Duration::seconds(1);
        assert_eq!(
            before.with_timezone(&sao_paulo).date_naive(),
            d(2019, 2, 16)
        );
        // Every date of a year (Samoa skipped 2011-12-30): the instant is
        // on the date or the next one held, the second before is earlier.
        for tz in [Tokyo, santiago, sao_paulo, chrono_tz::Pacific::Apia] {
            let mut day = d(2011, 1, 1);
            while day < d(2012, 1, 1) {
                let t = day_start(day, &tz).unwrap();
                let on = t.with_timezone(&tz).date_naive();
                assert!(
                    on == day || (on > day && day == d(2011, 12, 30)),
                    "{tz} {day}"
                );
                let b = (t - chrono::Duration::seconds(1))
                    .with_timezone(&tz)
                    .date_naive();
                assert!(b < day, "{tz} {day}");
                day = day.succ_opt().unwrap();
            }
        }
    }

    #[test]
    fn instants_use_the_time_zone() {
        // 2019-03-31 15:00 UTC is 1 April 00:00 in Tokyo.
        assert_eq!(of_instant(&t0(), &Tokyo).0, d(2019, 4, 1));
        let t = DateTime::parse_from_rfc3339("2019-03-31T15:00:00Z").unwrap();
        assert_eq!(
            of_instant(&t, &Tokyo).1,
            FiscalQuarter {
                fy: 2019,
                quarter: 1
            }
        );
        assert_eq!(
            of_instant(&t, &chrono_tz::UTC).1,
            FiscalQuarter {
                fy: 2018,
                quarter: 4
            }
        );
    }

    #[test]
    fn quarter_bounds_and_closing() {
        assert_eq!(
            quarter_dates(2019, 1),
            Some((d(2019, 4, 1), d(2019, 6, 30)))
        );
        assert_eq!(
            quarter_dates(2019, 3),
            Some((d(2019, 10, 1), d(2019, 12, 31)))
        );
        assert_eq!(
            quarter_dates(2019, 4),
            Some((d(2020, 1, 1), d(2020, 3, 31)))
        );
        assert_eq!(quarter_dates(2019, 5), None);
        assert!(quarter_closed(2019, 1, d(2019, 7, 19)));
        assert!(!quarter_closed(2019, 2, d(2019, 7, 19)));
        assert!(quarter_closed(2019, 1, d(2019, 6, 30)));
        assert!(!quarter_closed(2019, 1, d(2019, 6, 29)));
    }

    #[test]
    fn open_quarter_and_fy_rules() {
        assert_eq!(open_quarter(2019, d(2019, 7, 19)), Some(2));
        assert_eq!(
            open_quarter(2019, d(2019, 6, 30)),
            None,
            "1Q closed, 2Q not begun"
        );
        assert_eq!(open_quarter(2019, d(2019, 4, 1)), Some(1));
        assert_eq!(open_quarter(2018, d(2019, 7, 19)), None);
        assert_eq!(parse_fy("2019"), Ok(2019));
        for bad in [
            "19",
            "02019",
            "0999",
            "20x9",
            "-201",
            "+201",
            " 2019",
            "２０１９",
        ] {
            assert_eq!(
                parse_fy(bad),
                Err(FyError::NotFourDigits(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(current_fy(d(2020, 3, 31)), 2019);
        assert_eq!(current_fy(d(2020, 4, 1)), 2020);
        assert!(check_not_future(2019, d(2019, 4, 1)).is_ok());
        let e = check_not_future(2020, d(2020, 3, 31))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "--fy 2020 is in the future: FY2020 begins on 2020-04-01, and on 2020-03-31 the current fiscal year is FY2019");
    }
}
