//! The accept loop: every connection bounded in number and in the time it may sit silent.
//!
//! A client that opens a connection and sends nothing, or half a header, or stays idle after its
//! last answer, holds a descriptor. Without bounds a few thousand such sockets exhaust the
//! process's descriptors and `accept` fails for everyone. Here a connection must deliver each
//! request's headers within `http.header_read_timeout_secs` (the same clock runs while it sits
//! idle between requests), at most `http.max_connections` are open at once (further ones wait in
//! the kernel's backlog), and the descriptor limit is raised to what the system allows.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::Layer;

use crate::config::HttpConfig;

/// Descriptors kept for everything that is not a client connection: the database, outbound
/// requests to subscribers, files.
const RESERVED_DESCRIPTORS: u64 = 256;

/// Raises the soft descriptor limit to the hard one and returns how many client connections fit
/// under it, at most `wanted`.
pub fn connection_capacity(wanted: usize) -> usize {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read or raise the descriptor limit");
            return wanted;
        }
    };
    let fits =
        usize::try_from(limit.saturating_sub(RESERVED_DESCRIPTORS).max(16)).unwrap_or(usize::MAX);
    if fits < wanted {
        tracing::warn!(
            descriptors = limit,
            connections = fits,
            "http.max_connections is above what the descriptor limit allows; lowered"
        );
    }
    wanted.min(fits)
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then lets requests in flight end
/// (for at most `http.request_timeout_secs`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &HttpConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(connection_capacity(config.max_connections)));
    let header_read_timeout = Duration::from_secs(config.header_read_timeout_secs);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The parser's limits lie well past the configured ones, which the router answers with a
    // problem: only a request beyond both gets the parser's bare 414 or 431.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(config.read_buffer_bytes())
        .max_headers(config.max_headers * 4);
    builder
        .http2()
        .max_header_list_size(u32::try_from(config.read_buffer_bytes()).unwrap_or(u32::MAX));
    let graceful = GracefulShutdown::new();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors or memory, or a connection reset before it was
                    // accepted: wait a little rather than spin, and go on.
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, builder, watcher) = (app.clone(), builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            // The protocol is told from the first bytes, and that wait has no clock of its
            // own: a connection that says nothing is closed here.
            let mut first = [0u8; 1];
            match tokio::time::timeout(header_read_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            // The peer, for the per-client limits of the public doors.
            let app = axum::Extension(axum::extract::ConnectInfo(peer)).layer(app);
            let service = TowerToHyperService::new(app);
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let connection = watcher.watch(connection.into_owned());
            // An error here is the client's (a reset, a malformed request, a header that did
            // not arrive in time): the connection ends, nothing else needs to know.
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    // Answers in flight may finish, within a bound: a client that stops reading holds its
    // answer (a stream of events catching up, a large feed) for as long as it likes, and the
    // streams, which end at the shutdown, are not polled again until it reads.
    let grace = Duration::from_secs(config.request_timeout_secs);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "connections still answering at the end of the grace period are not waited for"
        );
    }
    Ok(())
}
