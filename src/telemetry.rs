//! Logging: `TIDINGS_LOG` (or `RUST_LOG`) filters, default `info`.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = std::env::var("TIDINGS_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
