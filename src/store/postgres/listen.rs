//! Hearing of the writes of other instances: `LISTEN tidings_changes`.
//!
//! Every write unit that changes something sends `NOTIFY tidings_changes` inside its
//! transaction, so that the notification goes out when (and only if) it commits. One task per
//! store holds a listening connection of its own (outside the pool: it is never idle, and a
//! pool of one would starve) and bumps a counter on a `watch` channel for each notification;
//! [`Changes::changed`] waits for the next bump.
//!
//! Notifications are not durable: those sent while the listening connection is down are lost.
//! So the counter is also bumped after every reconnection, which tells waiters "something may
//! have changed", and they read again. The task never panics and never spins: a lost
//! connection is reopened by sqlx at once; when that fails, the task waits (doubling, up to
//! [`MAX_RETRY`]) before each new try; a connection that keeps dropping as soon as it opens is
//! reopened at most once per [`MIN_RECONNECT_INTERVAL`]. It ends when the store is closed, or
//! when every handle on the store is gone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::CHANNEL;
use crate::store::StoreError;

/// The first wait after a failed reconnection; each further failure doubles it.
const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(30);
/// Reconnections that sqlx makes by itself happen at most this often.
const MIN_RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

/// The listening task and the receiving end of its counter; cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Changes {
    bumps: watch::Receiver<u64>,
    stop: CancellationToken,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
    /// The listening connection's own pool of one, through which sqlx reconnects.
    pool: PgPool,
}

impl Changes {
    /// Opens the listening connection (so that no notification sent after the store is
    /// connected is missed) and starts the task.
    pub(super) async fn start(
        options: PgConnectOptions,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let name = format!(
            "{} (changes)",
            options.get_application_name().unwrap_or("tidings")
        );
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(acquire_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options.application_name(&name));
        let listener = match subscribe(&pool).await {
            Ok(listener) => listener,
            Err(err) => {
                super::close_pool(&pool).await;
                return Err(err.into());
            }
        };
        let (bump, bumps) = watch::channel(0u64);
        let stop = CancellationToken::new();
        let task = tokio::spawn(listen(listener, pool.clone(), bump, stop.clone()));
        Ok(Self {
            bumps,
            stop,
            task: Arc::new(Mutex::new(Some(task))),
            pool,
        })
    }

    /// Resolves at the next bump after this call; never, once the task has ended.
    pub(super) async fn changed(&self) {
        let mut bumps = self.bumps.clone();
        // A fresh handle would report any bump since the store was opened: only later ones
        // count.
        bumps.mark_unchanged();
        if bumps.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Ends the task and closes the listening connection.
    pub(super) async fn close(&self) {
        self.stop.cancel();
        let task = self.task.lock().map(|mut t| t.take()).unwrap_or(None);
        if let Some(task) = task {
            // The task only ever returns; a panic would already have been reported.
            let _ = task.await;
        }
        super::close_pool(&self.pool).await;
    }
}

/// A listener on the channel.
async fn subscribe(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// The task: bumps the counter for each notification and after each reconnection.
async fn listen(
    mut listener: PgListener,
    pool: PgPool,
    bump: watch::Sender<u64>,
    stop: CancellationToken,
) {
    let signal = || bump.send_modify(|n| *n = n.wrapping_add(1));
    let mut last_reconnect: Option<Instant> = None;
    loop {
        let received = tokio::select! {
            biased;
            () = stop.cancelled() => return,
            // Every handle on the store is gone: nobody can wait any more.
            () = bump.closed() => return,
            received = listener.try_recv() => received,
        };
        match received {
            Ok(Some(_)) => signal(),
            // The connection was lost and sqlx opened and subscribed a new one: whatever was
            // sent in between is lost, so tell the waiters to look.
            Ok(None) => {
                tracing::warn!("the connection listening for changes was lost; reconnected");
                signal();
                if last_reconnect.is_some_and(|at| at.elapsed() < MIN_RECONNECT_INTERVAL)
                    && !pause(&stop, &bump, MIN_RECONNECT_INTERVAL).await
                {
                    return;
                }
                last_reconnect = Some(Instant::now());
            }
            // Reconnecting failed, or the connection broke in a way sqlx does not recover
            // from by itself: start over with a new listener, after a wait.
            Err(err) => {
                tracing::warn!(error = %err, "listening for changes failed; retrying");
                drop(listener);
                let mut delay = FIRST_RETRY;
                listener = loop {
                    if !pause(&stop, &bump, delay).await {
                        return;
                    }
                    match subscribe(&pool).await {
                        Ok(listener) => break listener,
                        Err(err) => {
                            delay = (delay * 2).min(MAX_RETRY);
                            tracing::warn!(error = %err, retry_in = ?delay, "cannot listen for changes");
                        }
                    }
                };
                tracing::info!("listening for changes again");
                signal();
            }
        }
    }
}

/// Waits `delay`; `false` when the task must end instead.
async fn pause(stop: &CancellationToken, bump: &watch::Sender<u64>, delay: Duration) -> bool {
    tokio::select! {
        biased;
        () = stop.cancelled() => false,
        () = bump.closed() => false,
        () = tokio::time::sleep(delay) => true,
    }
}
