//! Domain types: parsed once at the edge, trusted everywhere after. The nouns every layer
//! shares live here, so that no layer has to reach up for them.

mod article;
mod cursor;
mod delivery;
mod endpoint;
mod event;
mod format;
mod ids;
mod queue;
mod scope;
mod search;
mod secret;
mod source;
mod subscription;
mod tag;
mod target;
mod url;

pub use article::{Article, Image, StoredArticle, Tombstone};
pub use cursor::FeedCursor;
pub use delivery::{Attempt, DeliveryView};
pub use endpoint::{Endpoint, EndpointKind, EndpointRoute};
pub use event::{Event, EventSummary, EventType};
pub use format::FeedFormat;
pub use ids::{ArticleId, InvalidValue, SectionPath};
pub use queue::QueueStats;
pub use scope::Scope;
pub use search::SearchQuery;
pub use secret::{RobotSecret, Secret};
pub use source::{HubState, RunCounts, SourceHub, SourcePage, SourceRecord, SourceRow};
pub use subscription::{LastDelivery, SignatureAlgorithm, Subscription, SubscriptionView};
pub use tag::{MAX_TAG_CHARS, TAG_SCOPE_PREFIX, Tag, fold_white_space};
pub use target::{Target, TargetKind};
pub use url::{CallbackUrl, EndpointUrl};
