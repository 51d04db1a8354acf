//! Serve: `--metrics ADDR`, an HTTP endpoint for Prometheus (`GET /metrics`) and for health
//! checks (`GET /health`), on a thread of its own.
//!
//! In: an address and the run's [`Telemetry`]. Out: a bound [`MetricsServer`] that answers
//! until it is dropped or the process ends. Guarantees: network I/O stays here, on one
//! current-thread tokio runtime; a scrape only reads the telemetry (`scrape::render`), so a
//! slow or hostile client cannot stall the pipeline; the port is bound before the run
//! starts, so a bad address is an error at once.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;

use crate::telemetry::Telemetry;

/// A running metrics endpoint; dropping it asks the server to stop.
pub struct MetricsServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Bind `addr` and serve `tel` from a new thread.
    pub fn start(addr: &str, tel: Arc<Telemetry>) -> std::io::Result<MetricsServer> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let bound = std_listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (t1, t2) = (tel.clone(), tel);
        let app = Router::new()
            .route(
                "/metrics",
                get(move || {
                    let t = t1.clone();
                    async move {
                        (
                            [(
                                CONTENT_TYPE,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )],
                            crate::scrape::render(&t),
                        )
                    }
                }),
            )
            .route(
                "/health",
                get(move || {
                    let t = t2.clone();
                    async move {
                        (
                            [(CONTENT_TYPE, "application/json")],
                            crate::scrape::health(&t),
                        )
                    }
                }),
            );
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("metrics endpoint {bound}: {e}");
                            return;
                        }
                    };
                    let served = axum::serve(listener, app).with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    });
                    if let Err(e) = served.await {
                        tracing::error!("metrics endpoint {bound}: {e}");
                    }
                })
            })?;
        Ok(MetricsServer {
            addr: bound,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        // Not joined: a client holding its connection open must not hold up the exit.
        drop(self.thread.take());
    }
}
