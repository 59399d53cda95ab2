//! Deliveries as operators see them: the delivery log of an endpoint, each with its attempts.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One attempt, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    pub error_class: Option<String>,
    pub error: Option<String>,
    pub response_body: String,
}

/// A delivery as the delivery log shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub id: String,
    /// The `webhook-id` the receiver sees.
    pub message_id: String,
    #[serde(rename = "type")]
    pub message_type: String,
    pub endpoint_id: String,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The cursor of this row in the log (`after=`).
    pub cursor: i64,
    pub attempt_log: Vec<Attempt>,
}
