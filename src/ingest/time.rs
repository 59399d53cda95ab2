//! Publication times: RFC 3339, or a local date and time in the site's zone.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;

/// Parses a publication time, keeping its UTC offset.
///
/// Accepted: RFC 3339 (`2021-06-01T09:30:00+08:00`, `…Z`), the same with a space for `T`, and,
/// with no offset, `2021-06-01 09:30[:00]` or a bare date `2021-06-01`. A time without an offset
/// is local time in `zone`; a date without a time is midnight there. This is the only place
/// that rule lives.
///
/// A leap second (`23:59:60`) becomes the second before it: feed readers cannot read `:60`,
/// and chrono would write it.
pub fn parse_time(raw: &str, zone: Tz) -> Result<DateTime<FixedOffset>, String> {
    let t = parse_any(raw, zone)?;
    Ok(if t.nanosecond() >= 1_000_000_000 {
        t.with_nanosecond(0).unwrap_or(t)
    } else {
        t
    })
}

fn parse_any(raw: &str, zone: Tz) -> Result<DateTime<FixedOffset>, String> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t);
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%:z",
        "%Y-%m-%dT%H:%M%:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(raw, format) {
            return Ok(t);
        }
    }
    let local = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .into_iter()
    .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    let Some(local) = local else {
        return Err(format!(
            "{raw:?} is not a time; send RFC 3339 (2021-06-01T09:30:00+08:00) or a date (2021-06-01)"
        ));
    };
    match zone.from_local_datetime(&local).earliest() {
        Some(t) => Ok(t.fixed_offset()),
        None => Err(format!("{raw:?} does not exist in the time zone {zone}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_midnight_in_the_site_zone() {
        let t = parse_time("2021-06-01", chrono_tz::Asia::Shanghai).unwrap();
        assert_eq!(t.to_rfc3339(), "2021-06-01T00:00:00+08:00");
    }

    #[test]
    fn offsets_are_kept() {
        let t = parse_time("2021-06-01T09:30:00-05:00", chrono_tz::Asia::Shanghai).unwrap();
        assert_eq!(t.to_rfc3339(), "2021-06-01T09:30:00-05:00");
        let t = parse_time("2021-06-01 09:30", chrono_tz::Asia::Shanghai).unwrap();
        assert_eq!(t.to_rfc3339(), "2021-06-01T09:30:00+08:00");
    }

    #[test]
    fn a_leap_second_becomes_the_second_before() {
        for raw in ["2016-12-31T23:59:60Z", "2016-12-31 23:59:60"] {
            let t = parse_time(raw, chrono_tz::Asia::Shanghai).unwrap();
            assert_eq!(t.second(), 59, "{raw}");
            assert_eq!(t.nanosecond(), 0, "{raw}");
        }
        let t = parse_time("2016-12-31T23:59:60.5Z", chrono_tz::Asia::Shanghai).unwrap();
        assert_eq!(t.to_rfc3339(), "2016-12-31T23:59:59+00:00");
    }

    #[test]
    fn nonsense_is_refused() {
        assert!(parse_time("yesterday", chrono_tz::Asia::Shanghai).is_err());
        assert!(parse_time("2021-13-01", chrono_tz::Asia::Shanghai).is_err());
    }
}
