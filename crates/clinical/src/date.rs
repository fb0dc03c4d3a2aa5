//! Calendar dates and ISO 8601 timestamps, just enough for clinical records.
//!
//! Clinical data carries dates as text: `2026-03-05`, `2026-03-05T14:30`,
//! FHIR's partial `1958` or `1958-07`, with or without a UTC offset. This
//! module validates that text (a 30th of February is an error, not a silent
//! March 2nd), orders it, and does the little arithmetic a case needs: ages,
//! "is this in the future", shifting a demo case to today.
//!
//! It is not a time-zone library. A timestamp is ordered by the wall-clock
//! date and time *as charted*; the offset is kept in the text but not applied,
//! because the results of one case come from one place and a clinician reads
//! "08:10" as the time on the ward, not in UTC. Nothing here reads the system
//! clock: `today` is always the caller's.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// A day of the proleptic Gregorian calendar, years 1 to 9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    // Field order matters: the derived `Ord` compares year, then month, then day.
    year: i32,
    month: u8,
    day: u8,
}

impl Date {
    /// The date `year-month-day`, or an error if that day does not exist.
    pub fn new(year: i32, month: u32, day: u32) -> Result<Date> {
        let text = || format!("{year:04}-{month:02}-{day:02}");
        if !(1..=9999).contains(&year) {
            return Err(invalid(&text(), "the year must be between 1 and 9999"));
        }
        if !(1..=12).contains(&month) {
            return Err(invalid(&text(), &format!("there is no month {month}")));
        }
        let days = days_in_month(year, month as u8);
        if day == 0 || day > u32::from(days) {
            return Err(invalid(
                &text(),
                &format!("that month has {days} days, so there is no day {day}"),
            ));
        }
        Ok(Date {
            year,
            month: month as u8,
            day: day as u8,
        })
    }

    /// Parses exactly `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Date> {
        let ts = Timestamp::parse(text)?;
        if ts.precision != Precision::Day {
            return Err(invalid(text, "expected a day, as YYYY-MM-DD"));
        }
        Ok(ts.date)
    }

    /// The year (1 to 9999).
    pub fn year(self) -> i32 {
        self.year
    }

    /// The month (1 to 12).
    pub fn month(self) -> u32 {
        u32::from(self.month)
    }

    /// The day of the month (1 to 31).
    pub fn day(self) -> u32 {
        u32::from(self.day)
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn days_since_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil, with March as the first month of
        // the year so that the leap day falls at the end.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01, clamped to years 1 to 9999.
    pub fn from_days_since_epoch(days: i64) -> Date {
        const MIN: i64 = -719_162; // 0001-01-01
        const MAX: i64 = 2_932_896; // 9999-12-31
        let z = days.clamp(MIN, MAX) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        // In range by the clamp above, so the narrowing casts are exact.
        Date {
            year: year as i32,
            month: month as u8,
            day: day as u8,
        }
    }

    /// This date moved by `days` (negative moves it back).
    pub fn add_days(self, days: i64) -> Date {
        Date::from_days_since_epoch(self.days_since_epoch().saturating_add(days))
    }

    /// Days from `self` to `later` (negative if `later` is earlier).
    pub fn days_until(self, later: Date) -> i64 {
        later.days_since_epoch() - self.days_since_epoch()
    }

    /// Whole calendar months from `self` (say a birth date) to `later`:
    /// the age in completed months. Negative if `later` is earlier.
    pub fn completed_months_until(self, later: Date) -> i32 {
        let mut months = (later.year - self.year) * 12 + later.month as i32 - self.month as i32;
        if months > 0 && later.day < self.day {
            months -= 1;
        } else if months < 0 && later.day > self.day {
            months += 1;
        }
        months
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = Error;
    fn from_str(s: &str) -> Result<Date> {
        Date::parse(s)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Date, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// How much of a date-time a [`Timestamp`] states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Precision {
    /// `YYYY`.
    Year,
    /// `YYYY-MM`.
    Month,
    /// `YYYY-MM-DD`.
    Day,
    /// `YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm]`.
    Time,
}

/// A validated ISO 8601 date or date-time, kept as written.
///
/// Accepted: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, and `YYYY-MM-DD` followed by
/// `T` (or a space) and `hh:mm`, optional `:ss` and fraction, optional `Z` or
/// `±hh:mm` offset. Partial dates (FHIR allows them) stand for their first
/// day when ordered. Serialized as the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Timestamp {
    text: String,
    date: Date,
    precision: Precision,
    /// Wall-clock seconds since midnight, when a time is given.
    seconds: Option<u32>,
}

impl Timestamp {
    /// Parses and validates `text` (surrounding whitespace is ignored).
    pub fn parse(text: &str) -> Result<Timestamp> {
        let text = text.trim();
        let mut p = Cursor {
            b: text.as_bytes(),
            i: 0,
        };
        let year = p
            .digits(4)
            .ok_or_else(|| invalid(text, "it should start with a four-digit year"))?;
        let mut month = 1;
        let mut day = 1;
        let mut precision = Precision::Year;
        let mut seconds = None;
        if p.eat(b'-') {
            month = p
                .digits(2)
                .ok_or_else(|| invalid(text, "expected a two-digit month after the year"))?;
            precision = Precision::Month;
            if p.eat(b'-') {
                day = p
                    .digits(2)
                    .ok_or_else(|| invalid(text, "expected a two-digit day after the month"))?;
                precision = Precision::Day;
                if p.eat(b'T') || p.eat(b't') || p.eat(b' ') {
                    seconds = Some(p.time(text)?);
                    precision = Precision::Time;
                }
            }
        }
        if !p.done() {
            return Err(invalid(text, "there is unexpected text after the date"));
        }
        let date = match Date::new(year as i32, month, day) {
            Ok(date) => date,
            Err(Error::InvalidDate { reason, .. }) => return Err(invalid(text, &reason)),
            Err(other) => return Err(other),
        };
        Ok(Timestamp {
            text: text.to_string(),
            date,
            precision,
            seconds,
        })
    }

    /// A timestamp for a whole day.
    pub fn from_date(date: Date) -> Timestamp {
        Timestamp {
            text: date.to_string(),
            date,
            precision: Precision::Day,
            seconds: None,
        }
    }

    /// The text as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The day, or the first day of the month or year for partial dates.
    pub fn date(&self) -> Date {
        self.date
    }

    /// How much the text states.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// True when the earliest moment this timestamp can mean is after `today`.
    pub fn is_after(&self, today: Date) -> bool {
        self.date > today
    }

    /// The same timestamp `days` later (earlier if negative), time and offset
    /// unchanged. A partial date moves its first day and keeps its precision.
    pub fn shifted(&self, days: i64) -> Timestamp {
        let date = self.date.add_days(days);
        let text = match self.precision {
            Precision::Year => format!("{:04}", date.year),
            Precision::Month => format!("{:04}-{:02}", date.year, date.month),
            Precision::Day => date.to_string(),
            // Parsing checked that the first ten bytes are ASCII (YYYY-MM-DD),
            // so byte 10 is a character boundary.
            Precision::Time => format!("{date}{}", &self.text[10..]),
        };
        Timestamp {
            text,
            date,
            precision: self.precision,
            seconds: self.seconds,
        }
    }

    fn sort_key(&self) -> (Date, u32, Precision) {
        (self.date, self.seconds.unwrap_or(0), self.precision)
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key()
            .cmp(&other.sort_key())
            .then_with(|| self.text.cmp(&other.text))
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Human form for prompts: `2026-03-05`, or `2026-03-05 14:30` with a time.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.date;
        match (self.precision, self.seconds) {
            (Precision::Year, _) => write!(f, "{:04}", d.year),
            (Precision::Month, _) => write!(f, "{:04}-{:02}", d.year, d.month),
            (Precision::Time, Some(s)) => write!(f, "{d} {:02}:{:02}", s / 3600, s / 60 % 60),
            _ => write!(f, "{d}"),
        }
    }
}

impl FromStr for Timestamp {
    type Err = Error;
    fn from_str(s: &str) -> Result<Timestamp> {
        Timestamp::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn invalid(text: &str, reason: &str) -> Error {
    Error::InvalidDate {
        text: text.to_string(),
        reason: reason.to_string(),
    }
}

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A byte cursor over ASCII date text; any non-ASCII byte fails a match.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn digits(&mut self, n: usize) -> Option<u32> {
        let s = self.b.get(self.i..self.i + n)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(s.iter().fold(0, |v, d| v * 10 + u32::from(d - b'0')))
    }

    fn done(&self) -> bool {
        self.i == self.b.len()
    }

    /// `hh:mm[:ss[.fff]][Z|±hh:mm|±hhmm]` → seconds since midnight.
    fn time(&mut self, text: &str) -> Result<u32> {
        let bad = |why: &str| invalid(text, why);
        let h = self
            .digits(2)
            .ok_or_else(|| bad("expected hh:mm after the date"))?;
        if !self.eat(b':') {
            return Err(bad("expected hh:mm after the date"));
        }
        let m = self
            .digits(2)
            .ok_or_else(|| bad("expected two-digit minutes"))?;
        let mut s = 0;
        if self.eat(b':') {
            s = self
                .digits(2)
                .ok_or_else(|| bad("expected two-digit seconds"))?;
            if self.eat(b'.') || self.eat(b',') {
                let start = self.i;
                while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
                    self.i += 1;
                }
                if self.i == start {
                    return Err(bad(
                        "expected digits after the decimal point of the seconds",
                    ));
                }
            }
        }
        if h > 23 || m > 59 || s > 60 {
            return Err(bad(&format!("{h:02}:{m:02}:{s:02} is not a time of day")));
        }
        if !(self.eat(b'Z') || self.eat(b'z')) && (self.eat(b'+') || self.eat(b'-')) {
            let oh = self
                .digits(2)
                .ok_or_else(|| bad("expected a ±hh:mm offset"))?;
            self.eat(b':');
            let om = self
                .digits(2)
                .ok_or_else(|| bad("expected a ±hh:mm offset"))?;
            if oh > 14 || om > 59 {
                return Err(bad("the UTC offset is out of range"));
            }
        }
        // A leap second counts as the last second of its minute.
        Ok(h * 3600 + m * 60 + s.min(59))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_round_trip_over_four_centuries() {
        let start = Date::new(1900, 1, 1).unwrap().days_since_epoch();
        let mut prev = Date::from_days_since_epoch(start - 1);
        for d in start..start + 146_097 {
            let date = Date::from_days_since_epoch(d);
            assert_eq!(date.days_since_epoch(), d, "day {d}: {date}");
            assert!(date > prev, "{date} after {prev}");
            assert!(Date::new(date.year(), date.month(), date.day()).is_ok());
            prev = date;
        }
        assert_eq!(Date::new(1970, 1, 1).unwrap().days_since_epoch(), 0);
        assert_eq!(Date::new(2000, 3, 1).unwrap().days_since_epoch(), 11_017);
    }

    #[test]
    fn rejects_days_that_do_not_exist() {
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "26-01-01",
            "2026/01/01",
            "2026-1-1",
            "2026-01-01T25:00",
            "2026-01-01T10",
            "2026-01-01T10:00+15:00",
            "2026-01-01x",
            "",
            "２０２６-01-01",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Date::parse("2024-02-29").is_ok());
        assert!(Date::parse("1900-02-29").is_err());
        assert!(Date::parse("2026-03").is_err(), "Date::parse wants a day");
    }

    #[test]
    fn accepts_fhir_forms_and_orders_by_wall_clock() {
        let t = |s: &str| Timestamp::parse(s).unwrap();
        assert_eq!(t("1958").precision(), Precision::Year);
        assert_eq!(t("1958-07").date(), Date::new(1958, 7, 1).unwrap());
        assert_eq!(t(" 2026-03-05 ").as_str(), "2026-03-05");
        let a = t("2026-03-05T08:10:00+01:00");
        let b = t("2026-03-05T11:15Z");
        let c = t("2026-03-05 23:59:59.123");
        assert!(t("2026-03-05") < a && a < b && b < c);
        assert_eq!(a.to_string(), "2026-03-05 08:10");
        assert_eq!(t("2026-03").to_string(), "2026-03");
        assert!(t("2026-03-07").is_after(Date::new(2026, 3, 6).unwrap()));
        assert!(!t("2026-03-06T23:00").is_after(Date::new(2026, 3, 6).unwrap()));
    }

    #[test]
    fn shifting_keeps_time_and_precision() {
        let t = Timestamp::parse("2026-02-27T08:10+01:00").unwrap();
        assert_eq!(t.shifted(3).as_str(), "2026-03-02T08:10+01:00");
        assert_eq!(
            Timestamp::parse("2024-02").unwrap().shifted(31).as_str(),
            "2024-03"
        );
    }

    #[test]
    fn completed_months() {
        let d = |s: &str| Date::parse(s).unwrap();
        assert_eq!(d("2020-03-15").completed_months_until(d("2026-03-14")), 71);
        assert_eq!(d("2020-03-15").completed_months_until(d("2026-03-15")), 72);
        assert_eq!(d("2026-03-15").completed_months_until(d("2026-03-01")), 0);
        assert_eq!(d("2026-03-15").completed_months_until(d("2026-01-20")), -1);
    }
}
