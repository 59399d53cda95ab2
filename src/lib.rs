//! tidings turns a news portal's published articles into feeds and pushes.
//!
//! A guided tour, in the order data flows:

/// The running server.
pub mod app;
/// The section catalogue from `feeds/`: the tree, breadcrumbs, feed scopes.
pub mod catalog;
/// The command line's shape.
pub mod cli;
/// What each command does.
pub mod commands;
/// Configuration: built-in defaults under a file under `TIDINGS_…` environment variables.
pub mod config;
/// The delivery engine: dispatcher, workers, retry arithmetic, the hardened client.
pub mod delivery;
/// Domain types parsed at the edge: `ArticleId`, `SectionPath`, `Article`, `FeedFormat`.
pub mod domain;
/// Rendered feeds with validators, invalidated per section.
pub mod feed_cache;
/// The HTTP interface.
pub mod http;
/// Ingest: validate, sanitise and normalise what publishers send.
pub mod ingest;
/// Prometheus metrics.
pub mod metrics;
/// Pure renderers: RSS 2.0, Atom 1.0, JSON Feed 1.1, OPML, the HTML index.
pub mod render;
/// The use cases every front door shares: publish, delete, read feeds.
pub mod service;
/// Sources: crawled sections, upstream feeds and their hubs, imported pages, fetched politely
/// (conditional GET, redirects checked hop by hop, `robots.txt`, per-host limits).
pub mod sources;
/// Persistence with its outbox of events.
pub mod store;
/// Logging.
pub mod telemetry;
/// Webhook endpoints, payloads and Standard Webhooks signatures.
pub mod webhooks;
/// The WebSub hub: subscriptions, verification of intent, notifications.
pub mod websub;
