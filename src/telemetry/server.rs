//! The HTTP endpoints for Prometheus and Kubernetes: `/metrics`, `/healthz`, `/readyz`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::health::Health;
use super::metrics::Metrics;

#[derive(Clone)]
struct Telemetry {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// Binds `listen`; the returned address is the one actually bound (port 0 picks a free one).
pub async fn bind(listen: SocketAddr) -> Result<(TcpListener, SocketAddr), String> {
    let listener = TcpListener::bind(listen).await.map_err(|error| {
        format!(
            "cannot listen on {listen} for metrics ({error}); set metrics.listen to a free address"
        )
    })?;
    let local = listener
        .local_addr()
        .map_err(|error| format!("cannot read the metrics address: {error}"))?;
    Ok((listener, local))
}

pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    mut stop: watch::Receiver<bool>,
) {
    let router = Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readiness))
        .with_state(Telemetry { metrics, health });
    let shutdown = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    if let Err(error) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(%error, "metrics server stopped");
    }
}

async fn render_metrics(State(telemetry): State<Telemetry>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        telemetry.metrics.render(),
    )
        .into_response()
}

async fn readiness(State(telemetry): State<Telemetry>) -> Response {
    let readiness = telemetry.health.readiness();
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::to_string(&readiness).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
