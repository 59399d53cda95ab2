//! The retry arithmetic: a pure function of the attempt, the schedule, the clock, the
//! receiver's `Retry-After` and a random number, so that tests can call it directly.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// The schedule is exhausted: the delivery fails, visibly, and can be replayed.
    GiveUp,
}

/// A retry schedule: the delay before each attempt (the first is usually zero) and the jitter.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub delays: Vec<Duration>,
    /// Each delay is spread by ± this fraction (0.2 = ±20 %).
    pub jitter: f64,
}

impl Schedule {
    /// How many attempts the schedule allows in all.
    pub fn attempts(&self) -> u32 {
        self.delays.len() as u32
    }

    /// When to try again after `attempts_made` attempts (the last of them just failed).
    ///
    /// `random` is a number in [0, 1) that places the delay inside its jitter band. A
    /// `Retry-After` from the receiver (honoured for 429, 502, 503, 504) is clamped to
    /// [the scheduled delay, twice that], so a receiver can slow us down but neither stall a
    /// delivery forever nor make us hammer it.
    pub fn next(
        &self,
        attempts_made: u32,
        now: DateTime<Utc>,
        retry_after: Option<Duration>,
        random: f64,
    ) -> Next {
        let Some(base) = self.delays.get(attempts_made as usize) else {
            return Next::GiveUp;
        };
        let spread = 1.0 + self.jitter * (2.0 * random.clamp(0.0, 1.0) - 1.0);
        let scheduled = base.mul_f64(spread.max(0.0));
        let delay = match retry_after {
            Some(asked) => asked.clamp(scheduled, scheduled * 2),
            None => scheduled,
        };
        let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        Next::RetryAt(
            now.checked_add_signed(delay)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule {
            delays: [0, 5, 300, 1800]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            jitter: 0.2,
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn the_middle_of_the_jitter_band_is_the_scheduled_delay() {
        assert_eq!(schedule().next(1, at(0), None, 0.5), Next::RetryAt(at(5)));
        assert_eq!(
            schedule().next(2, at(100), None, 0.5),
            Next::RetryAt(at(400))
        );
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        assert_eq!(schedule().next(2, at(0), None, 0.0), Next::RetryAt(at(240)));
        let Next::RetryAt(late) = schedule().next(2, at(0), None, 0.999_999) else {
            panic!()
        };
        assert!(late <= at(360) && late > at(359));
    }

    #[test]
    fn retry_after_is_clamped_to_between_the_delay_and_twice_it() {
        let s = schedule();
        let after = |secs| Some(Duration::from_secs(secs));
        assert_eq!(
            s.next(2, at(0), after(1), 0.5),
            Next::RetryAt(at(300)),
            "too soon"
        );
        assert_eq!(
            s.next(2, at(0), after(450), 0.5),
            Next::RetryAt(at(450)),
            "honoured"
        );
        assert_eq!(
            s.next(2, at(0), after(86_400), 0.5),
            Next::RetryAt(at(600)),
            "too late"
        );
    }

    #[test]
    fn the_schedule_runs_out() {
        assert_eq!(schedule().next(4, at(0), None, 0.5), Next::GiveUp);
        assert_eq!(schedule().attempts(), 4);
    }
}
