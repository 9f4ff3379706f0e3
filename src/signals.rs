//! `SIGHUP`, which several parts answer (the config reloads, the TLS
//! certificate is read again), each with a listener of its own.

use std::future::Future;

/// Runs `action` on every `SIGHUP` for as long as the server runs. Listens
/// from the moment it is called, before the future runs, so that a `SIGHUP`
/// right after start-up is not missed (nor takes the default action of
/// ending the process). `what` names, for the log, what will not happen if
/// the signal cannot be listened for.
pub fn on_every_hangup(
    what: &'static str,
    mut action: impl FnMut() + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    async move {
        #[cfg(unix)]
        {
            let mut hangups = match hangups {
                Ok(hangups) => hangups,
                Err(error) => {
                    tracing::warn!("cannot listen for SIGHUP, so {what} will not reload: {error}");
                    return;
                }
            };
            while hangups.recv().await.is_some() {
                action();
            }
        }
        #[cfg(not(unix))]
        let _ = (what, &mut action);
    }
}
