//! What a source (a crawled list page, an upstream feed) did, and its upstream hub
//! subscription: kept in the store between runs and shown to operators.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

/// A source's history as its runner keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceRecord {
    /// When the last run fetched (or tried to fetch) the source.
    pub last_fetch_at: Option<DateTime<Utc>>,
    /// `ok`, `not_modified` or `failed`.
    pub last_outcome: Option<String>,
    /// The reason of the last failure, naming the URL.
    pub last_error: Option<String>,
    pub last_success_at: Option<DateTime<Utc>>,
    /// Set at the first failure after a success, cleared by the next success.
    pub failing_since: Option<DateTime<Utc>>,
    /// Articles created or updated by this source, ever.
    pub articles_taken: u64,
    /// Articles deleted because the source said so (upstream tombstones), ever.
    pub articles_deleted: u64,
    /// Pages or entries refused (each logged with its URL and reason), ever.
    pub rejected: u64,
    /// The last run's counts.
    pub last_run: RunCounts,
    /// Validators of the list page or feed, for the next conditional GET.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// What one run took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunCounts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
    pub rejected: u64,
    /// Pages or documents fetched (the list page or feed included).
    pub fetched: u64,
}

/// The state of a WebSub subscription of ours at an upstream hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HubState {
    /// Asked for; the hub has not verified it yet.
    Requested,
    /// Verified: the hub pushes, and polling slows down.
    Active,
    /// The hub refused or failed, or the lease ran out: polling carries on as usual.
    Failed,
}

impl HubState {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            HubState::Requested => "requested",
            HubState::Active => "active",
            HubState::Failed => "failed",
        }
    }
}

/// Our subscription to an upstream feed's hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceHub {
    pub hub: Url,
    pub topic: Url,
    /// The `hub.secret` we chose: every notification must be signed with it.
    pub secret: String,
    /// Our callback's last path segment: a verification or notification for another is a 404.
    pub callback_token: String,
    pub state: HubState,
    pub requested_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_notification_at: Option<DateTime<Utc>>,
    /// Notifications taken (signed with our secret), ever.
    #[serde(default)]
    pub notifications: u64,
    pub error: Option<String>,
}

/// One source as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    pub name: String,
    pub record: SourceRecord,
    pub hub: Option<SourceHub>,
    pub due_at: DateTime<Utc>,
    /// Set while an instance runs it.
    pub held_until: Option<DateTime<Utc>>,
}

/// An article page a source fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePage {
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub article_id: Option<String>,
    /// `created`, `updated`, `unchanged`, or `rejected: …` with the reason.
    pub outcome: String,
    pub fetched_at: DateTime<Utc>,
}
