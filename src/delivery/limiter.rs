//! Per-endpoint rate limits: a deliveries-per-second budget, as a virtual schedule (GCRA).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct RateLimiter {
    /// When each endpoint may next be sent to.
    next_allowed: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    /// Takes a slot now, or says how long until one is free.
    pub fn acquire(&self, key: &str, per_second: f64) -> Result<(), Duration> {
        // Endpoints are registered with 0.001 to 10000 per second; anything else is no limit
        // rather than an overflow.
        let Ok(interval) = Duration::try_from_secs_f64(1.0 / per_second) else {
            return Ok(());
        };
        let now = Instant::now();
        let mut slots = self.next_allowed.lock().unwrap_or_else(|p| p.into_inner());
        let next = slots.get(key).copied().unwrap_or(now);
        if next > now {
            return Err(next - now);
        }
        let following = now.max(next).checked_add(interval).unwrap_or(now);
        slots.insert(key.to_owned(), following);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_send_within_the_interval_waits() {
        let limiter = RateLimiter::default();
        assert!(limiter.acquire("a", 1.0).is_ok());
        let wait = limiter.acquire("a", 1.0).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert!(
            limiter.acquire("b", 1.0).is_ok(),
            "endpoints are independent"
        );
    }
}
