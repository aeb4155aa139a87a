//! The shutdown signal: SIGTERM (Kubernetes) or Ctrl-C.

use std::future::Future;

/// Resolves at the first SIGTERM or Ctrl-C. The handlers are installed when this is called (inside
/// the runtime), not when the future is first polled: a SIGTERM during start-up is not lost to the
/// default action.
pub fn on_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        let ctrl_c = async {
            match interrupt {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let ctrl_c = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        let terminate = async {
            match terminate {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => tracing::info!("ctrl-c received, shutting down"),
            _ = terminate => tracing::info!("sigterm received, shutting down"),
        }
    }
}
