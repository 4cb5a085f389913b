//! Multi-document transactions with the driver's retry rules: the whole transaction again on
//! `TransientTransactionError` (write conflicts between concurrent placements), the commit
//! again on `UnknownTransactionCommitResult`, each a bounded number of times.
use orderflow_core::backoff::{exponential, with_full_jitter};
use std::time::Duration;

use mongodb::ClientSession;
use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};

/// Whole-transaction attempts before giving up (concurrent orders of one product conflict).
const MAX_ATTEMPTS: u32 = 60;
/// Attempts when the server cannot be reached: enough to ride out a replica-set election,
/// few enough that requests fail fast (503) while the database is down.
const MAX_ATTEMPTS_UNREACHABLE: u32 = 2;
/// However many attempts are left, a transaction stops retrying after this long.
const DEADLINE: Duration = Duration::from_secs(10);
const MAX_COMMIT_ATTEMPTS: u32 = 5;

/// What a transaction body decided.
pub(crate) enum Tx<T> {
    Commit(T),
    Abort(T),
}

/// Whether a failed attempt may be tried again.
pub(crate) fn retry_allowed(
    error: &mongodb::error::Error,
    attempt: u32,
    started: std::time::Instant,
) -> bool {
    use mongodb::error::ErrorKind;
    if !error.contains_label(TRANSIENT_TRANSACTION_ERROR) || started.elapsed() > DEADLINE {
        return false;
    }
    let unreachable = matches!(
        error.kind.as_ref(),
        ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
    );
    attempt
        < if unreachable {
            MAX_ATTEMPTS_UNREACHABLE
        } else {
            MAX_ATTEMPTS
        }
}

/// Commits, retrying only when the outcome of the commit is unknown.
pub(crate) async fn commit(session: &mut ClientSession) -> Result<(), mongodb::error::Error> {
    let mut attempt = 1;
    loop {
        match session.commit_transaction().await {
            Err(e)
                if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
                    && attempt < MAX_COMMIT_ATTEMPTS =>
            {
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Exponential backoff with full jitter, so transactions that conflicted spread out instead
/// of colliding again.
pub(crate) async fn pause(attempt: u32) {
    let ceiling = exponential(
        Duration::from_millis(5),
        Duration::from_millis(200),
        attempt.saturating_add(1),
    );
    tokio::time::sleep(with_full_jitter(ceiling)).await;
}

/// Runs `$body` (an expression of type `Result<Tx<T>, mongodb::error::Error>` that may use
/// `$session` and `?`) in a transaction on `$store.client`, evaluating to
/// `Result<T, StoreError>`.
macro_rules! transaction {
    ($store:expr, |$session:ident| $body:expr) => {{
        use $crate::mongo::transaction::{Tx, commit, pause, retry_allowed};
        let started = std::time::Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut $session = match $store.client.start_session().await {
                Ok(session) => session,
                Err(e) => break Err($crate::mongo::unavailable(e)),
            };
            if let Err(e) = $session.start_transaction().await {
                break Err($crate::mongo::unavailable(e));
            }
            let outcome: Result<Tx<_>, mongodb::error::Error> = async { $body }.await;
            match outcome {
                Ok(Tx::Commit(value)) => match commit(&mut $session).await {
                    Ok(()) => break Ok(value),
                    Err(e) if retry_allowed(&e, attempt, started) => pause(attempt).await,
                    Err(e) => break Err($crate::mongo::unavailable(e)),
                },
                Ok(Tx::Abort(value)) => {
                    let _ = $session.abort_transaction().await;
                    break Ok(value);
                }
                Err(e) => {
                    let _ = $session.abort_transaction().await;
                    if retry_allowed(&e, attempt, started) {
                        pause(attempt).await;
                    } else {
                        break Err($crate::mongo::unavailable(e));
                    }
                }
            }
        }
    }};
}
