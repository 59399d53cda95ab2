//! The running server: bind, serve, watch for changes, shut down gracefully.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::config::Config;
use crate::delivery::client::Lookup;
use crate::http::{AppState, router};
use crate::service::Service;
use crate::sources::Sources;

/// A bound, ready-to-run server. Binding happens in [`Application::build`], so a caller (a test)
/// can ask for port 0 and learn the real address before serving.
pub struct Application {
    listener: TcpListener,
    service: Service,
}

impl Application {
    pub async fn build(config: Config, catalog: Catalog) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        Self::build_with_listener(config, catalog, listener).await
    }

    /// Serves on a listener bound by the caller (tests bind port 0 first, so that `base_url`
    /// can name the real port).
    pub async fn build_with_listener(
        config: Config,
        catalog: Catalog,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        Self::build_with_lookup(config, catalog, listener, Lookup::System).await
    }

    /// [`Application::build_with_listener`], resolving the names of outbound requests
    /// (webhook endpoints, callbacks) with `lookup`.
    pub async fn build_with_lookup(
        config: Config,
        catalog: Catalog,
        listener: TcpListener,
        lookup: Lookup,
    ) -> anyhow::Result<Self> {
        let service = Service::open_with(config, catalog, lookup)
            .await
            .context("cannot open the database")?;
        Ok(Self { listener, service })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Serves until `shutdown` is cancelled, then lets in-flight requests finish.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let watcher = tokio::spawn(watch_changes(self.service.clone(), shutdown.clone()));
        let delivery = tokio::spawn(self.service.delivery.clone().run(shutdown.clone()));
        let sources = Sources::new(self.service.clone());
        let crawler = tokio::spawn(sources.clone().run(shutdown.clone()));
        // A live stream of events never ends on its own, and the graceful shutdown below waits
        // for every answer to end: the streams end as the server stops.
        let live = self.service.live.clone();
        let closing = shutdown.clone();
        tokio::spawn(async move {
            closing.cancelled().await;
            live.close();
        });
        let app = router(AppState::new(self.service.clone(), sources));
        tracing::info!(address = %self.local_addr(), base_url = %self.service.config.base_url, "serving");
        let config = &self.service.config;
        if config.api_token.is_empty() && config.tokens.is_empty() {
            tracing::warn!(
                "no API token is configured, so the ingest API refuses every request; \
                 set TIDINGS_API_TOKEN or add [[tokens]] to the configuration"
            );
        }
        let served = crate::http::server::serve(self.listener, app, &config.http, shutdown.clone())
            .await
            .context("the HTTP server failed");
        shutdown.cancel();
        let _ = watcher.await;
        let _ = delivery.await;
        let _ = crawler.await;
        // A unit of work stuck on a vanished database must not keep the process from ending.
        if tokio::time::timeout(Duration::from_secs(30), self.service.close())
            .await
            .is_err()
        {
            tracing::warn!("the store did not close within 30 s; exiting anyway");
        }
        served
    }
}

/// How often the store is searched for pending WebSub verifications that no instance runs.
const VERIFICATION_SWEEP: Duration = Duration::from_secs(30);

/// Applies changes written by other processes (the CLI, other instances) to the feed cache:
/// at once when the store signals a change (PostgreSQL's NOTIFY), and every
/// `feeds.poll_interval_ms` in any case (SQLite, or a signal lost with a dropped connection).
/// On the polls it also purges expired subscriptions and takes up pending verifications.
async fn watch_changes(service: Service, shutdown: CancellationToken) {
    let period = Duration::from_millis(service.config.feeds.poll_interval_ms.max(50));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // When pending WebSub verifications were last looked for: at the start, then now and then.
    let mut swept: Option<std::time::Instant> = None;
    loop {
        let polled = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => true,
            _ = service.changed() => false,
        };
        if let Err(err) = service.apply_changes().await {
            tracing::warn!(error = %err, "cannot read new events");
        }
        if polled {
            // WebSub §5.1: an expired subscription gets nothing (deliveries already check the
            // lease) and is purged.
            match service.hub.purge_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "expired WebSub subscriptions removed"),
                Err(err) => tracing::warn!(error = %err, "cannot purge expired subscriptions"),
            }
            // Accepted subscription requests whose verification no instance is running: left
            // by a stop, or by an instance that died (once its hold has run out).
            if swept.is_none_or(|at| at.elapsed() >= VERIFICATION_SWEEP) {
                swept = Some(std::time::Instant::now());
                if let Err(err) = service.hub.resume_pending().await {
                    tracing::warn!(error = %err, "cannot take up pending verifications");
                }
            }
        }
    }
}

/// Cancels `token` on Ctrl-C or SIGTERM.
pub async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
    token.cancel();
}
