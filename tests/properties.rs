//! Properties that hold for every input, checked against generated ones (proptest): time
//! parsing, the id rules, the retry arithmetic, and the linear pre-check of body HTML.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use proptest::prelude::*;
use tidings::delivery::retry::{Next, Schedule};
use tidings::domain::ArticleId;
use tidings::ingest::parse_time;
use tidings::ingest::shape::shape;

const ID_CHARS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~:@-";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any text: an answer, never a panic.
    #[test]
    fn parse_time_never_panics(raw in "\\PC{0,40}") {
        let _ = parse_time(&raw, chrono_tz::Asia::Shanghai);
    }

    /// An RFC 3339 time in years 1000–9999 with a whole-minute offset comes back as the same
    /// instant with the same offset.
    #[test]
    fn rfc3339_round_trips(
        secs in -30_610_224_000i64..253_402_300_799i64,
        offset_minutes in -1439i32..=1439,
    ) {
        let offset = FixedOffset::east_opt(offset_minutes * 60).unwrap();
        let t: DateTime<FixedOffset> = offset.from_utc_datetime(
            &DateTime::from_timestamp(secs, 0).unwrap().naive_utc(),
        );
        prop_assume!((1000..=9999).contains(&chrono::Datelike::year(&t)));
        let parsed = parse_time(&t.to_rfc3339(), chrono_tz::Asia::Shanghai).unwrap();
        prop_assert_eq!(parsed, t);
        prop_assert_eq!(parsed.offset(), t.offset());
    }

    /// An id is accepted exactly when it has 1 to 200 characters, all from the allowed set.
    #[test]
    fn id_rules_are_exact(raw in "[A-Za-z0-9._~:@\\- /%é黄\\n]{0,210}") {
        let allowed = !raw.is_empty()
            && raw.len() <= ArticleId::MAX_LEN
            && raw.chars().all(|c| ID_CHARS.contains(c));
        prop_assert_eq!(ArticleId::parse(&raw).is_ok(), allowed);
    }

    /// The next attempt lies within the jitter band of its scheduled delay (stretched up to
    /// twice by a Retry-After), never before now, and the schedule's end is a give-up.
    #[test]
    fn retries_stay_within_their_band(
        delays in proptest::collection::vec(0u64..200_000, 1..12),
        jitter in 0.0f64..0.9,
        made in 0u32..14,
        retry_after in proptest::option::of(0u64..1_000_000),
        random in 0.0f64..1.0,
    ) {
        let schedule = Schedule {
            delays: delays.iter().map(|ms| Duration::from_millis(*ms)).collect(),
            jitter,
        };
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let next = schedule.next(made, now, retry_after.map(Duration::from_millis), random);
        match delays.get(made as usize) {
            None => prop_assert_eq!(next, Next::GiveUp),
            Some(&base) => {
                let Next::RetryAt(at) = next else {
                    return Err(TestCaseError::fail("a retry was due"));
                };
                let waited = (at - now).num_milliseconds() as f64;
                let low = base as f64 * (1.0 - jitter) - 1.0;
                let high = base as f64 * (1.0 + jitter) * 2.0 + 1.0;
                prop_assert!(waited >= 0.0 && waited >= low && waited <= high,
                    "{waited} ms outside [{low}, {high}]");
            }
        }
    }

    /// The pre-check of body HTML takes any input, and its depth never exceeds the elements it
    /// counted.
    #[test]
    fn html_shape_takes_anything(raw in "(<[a-z/!?]{0,3}[^<>]{0,6}>?|[^<]{0,4}|<!--|-->|</?(p|b|td|tr|table|div|li|script)>){0,60}") {
        let s = shape(&raw);
        prop_assert!(s.depth <= s.elements, "{s:?} for {raw:?}");
    }
}
