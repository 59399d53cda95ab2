//! The delivery queue at a glance.

/// Figures for `/metrics` and the operator's console.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueStats {
    /// Deliveries not yet delivered nor given up: due, in flight, or waiting for a retry.
    pub pending: i64,
    /// Pending deliveries whose time has come and that no worker holds (whether or not their
    /// target can receive now).
    pub due: i64,
    /// Deliveries a worker holds now (their lease runs).
    pub in_flight: i64,
    pub failed: i64,
    pub delivered: i64,
    /// Age of the oldest due pending delivery, in seconds.
    pub oldest_due_secs: f64,
    pub disabled_endpoints: i64,
    pub endpoints: i64,
}
