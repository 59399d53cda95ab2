//! The delivery queue at a glance.

/// Figures for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueStats {
    pub pending: i64,
    pub failed: i64,
    pub delivered: i64,
    /// Age of the oldest due pending delivery, in seconds.
    pub oldest_due_secs: f64,
    pub disabled_endpoints: i64,
    pub endpoints: i64,
}
