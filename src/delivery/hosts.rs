//! What the engine knows of each destination host: how many deliveries it is sending there, and
//! whether the host keeps timing out. One server, hanging or merely popular, must not hold the
//! workers every other target needs: a host gets at most `max_per_host` deliveries at once, and
//! a host whose requests timed out `slow_host_after_timeouts` times in a row is slow, with at
//! most `slow_host_concurrency` deliveries and `slow_host_timeout_secs` for each, until one is
//! answered in time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::DeliveryConfig;

/// Hosts remembered as slow beyond this many are forgotten (those with nothing in flight),
/// so that a stream of ever new hanging hosts cannot grow the map without end.
const MAX_REMEMBERED: usize = 10_000;

#[derive(Debug)]
pub(super) struct Hosts {
    limits: Limits,
    state: Mutex<HashMap<String, Host>>,
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    per_host: usize,
    slow_after: u32,
    slow_concurrency: usize,
    slow_timeout: Duration,
}

#[derive(Debug, Default)]
struct Host {
    inflight: usize,
    timeouts_in_a_row: u32,
}

impl Host {
    fn is_slow(&self, limits: &Limits) -> bool {
        self.timeouts_in_a_row >= limits.slow_after
    }

    fn is_forgettable(&self) -> bool {
        self.inflight == 0 && self.timeouts_in_a_row == 0
    }
}

/// Why a delivery may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Busy {
    /// The host has `max_per_host` deliveries in flight.
    Full,
    /// The host is slow and has all it may have in flight; a slot frees within this long.
    Slow(Duration),
}

/// One delivery in flight to a host, until dropped.
#[derive(Debug)]
pub(super) struct HostSlot {
    hosts: Arc<Hosts>,
    host: String,
    /// The time-out for this delivery's request, when shorter than the configured one.
    pub timeout: Option<Duration>,
}

impl Hosts {
    pub fn new(config: &DeliveryConfig) -> Self {
        Self {
            limits: Limits {
                per_host: config.max_per_host.max(1),
                slow_after: config.slow_host_after_timeouts.max(1),
                slow_concurrency: config.slow_host_concurrency.max(1),
                slow_timeout: Duration::from_secs_f64(
                    config
                        .slow_host_timeout_secs
                        .min(config.request_timeout_secs)
                        .max(0.001),
                ),
            },
            state: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for one delivery to `host`, or why there is none now.
    pub fn try_take(self: &Arc<Self>, host: &str) -> Result<HostSlot, Busy> {
        let limits = self.limits;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let entry = state.entry(host.to_owned()).or_default();
        let slow = entry.is_slow(&limits);
        if slow && entry.inflight >= limits.slow_concurrency {
            return Err(Busy::Slow(limits.slow_timeout));
        }
        if entry.inflight >= limits.per_host {
            return Err(Busy::Full);
        }
        entry.inflight += 1;
        Ok(HostSlot {
            hosts: self.clone(),
            host: host.to_owned(),
            timeout: slow.then_some(limits.slow_timeout),
        })
    }

    /// Whether `host` is slow now.
    #[cfg(test)]
    fn is_slow(&self, host: &str) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.get(host).is_some_and(|h| h.is_slow(&self.limits))
    }

    fn record(&self, host: &str, timed_out: bool) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = state.get_mut(host) {
            if timed_out {
                let was_slow = entry.is_slow(&self.limits);
                entry.timeouts_in_a_row = entry.timeouts_in_a_row.saturating_add(1);
                if !was_slow && entry.is_slow(&self.limits) {
                    tracing::warn!(
                        host,
                        timeouts = entry.timeouts_in_a_row,
                        "a host keeps timing out; it gets fewer deliveries at once, with a shorter time-out, until it answers in time"
                    );
                }
            } else {
                if entry.is_slow(&self.limits) {
                    tracing::info!(host, "a slow host answered in time again");
                }
                entry.timeouts_in_a_row = 0;
            }
        }
    }

    fn release(&self, host: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = state.get_mut(host) {
            entry.inflight = entry.inflight.saturating_sub(1);
            if entry.is_forgettable() {
                state.remove(host);
            }
        }
        if state.len() > MAX_REMEMBERED {
            state.retain(|_, h| h.inflight > 0);
        }
    }
}

impl HostSlot {
    /// What the request came to: a time-out, or an answer (any answer: a host that answers is
    /// not hanging) or another failure, which ends a run of time-outs.
    pub fn record(&self, timed_out: bool) {
        self.hosts.record(&self.host, timed_out);
    }
}

impl Drop for HostSlot {
    fn drop(&mut self) {
        self.hosts.release(&self.host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Arc<Hosts> {
        let config = DeliveryConfig {
            max_per_host: 3,
            slow_host_after_timeouts: 2,
            slow_host_concurrency: 1,
            slow_host_timeout_secs: 2.0,
            ..DeliveryConfig::default()
        };
        Arc::new(Hosts::new(&config))
    }

    #[test]
    fn a_host_gets_at_most_its_share_and_others_are_unaffected() {
        let hosts = hosts();
        let slots: Vec<HostSlot> = (0..3)
            .map(|_| hosts.try_take("a.example").unwrap())
            .collect();
        assert_eq!(hosts.try_take("a.example").unwrap_err(), Busy::Full);
        let other = hosts.try_take("b.example").unwrap();
        assert_eq!(other.timeout, None);
        drop(slots);
        assert!(hosts.try_take("a.example").is_ok());
    }

    #[test]
    fn time_outs_in_a_row_make_a_host_slow_until_it_answers() {
        let hosts = hosts();
        for _ in 0..2 {
            hosts.try_take("slow.example").unwrap().record(true);
        }
        assert!(hosts.is_slow("slow.example"));
        let first = hosts.try_take("slow.example").unwrap();
        assert_eq!(first.timeout, Some(Duration::from_secs(2)));
        assert_eq!(
            hosts.try_take("slow.example").unwrap_err(),
            Busy::Slow(Duration::from_secs(2))
        );
        // An answer, even an error status, ends the run.
        first.record(false);
        drop(first);
        assert!(!hosts.is_slow("slow.example"));
        let slots: Vec<HostSlot> = (0..3)
            .map(|_| hosts.try_take("slow.example").unwrap())
            .collect();
        assert!(slots.iter().all(|s| s.timeout.is_none()));
    }

    #[test]
    fn one_time_out_between_answers_is_not_slow() {
        let hosts = hosts();
        for timed_out in [true, false, true, false] {
            hosts.try_take("flaky.example").unwrap().record(timed_out);
        }
        assert!(!hosts.is_slow("flaky.example"));
        assert!(
            hosts.state.lock().unwrap().is_empty(),
            "nothing kept of a healthy host"
        );
    }
}
