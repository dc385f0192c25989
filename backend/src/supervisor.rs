//! [`Supervisor`]: the one owner of every background task (gateway, fan-out, janitor, session
//! sweeper, and any added later), so none can fail unnoticed.
//!
//! Tasks are registered by name while the server is built and started together when it runs.
//! A task that panics is logged with its name and counted, the failure is published (health
//! reads it), and the server's shutdown begins: the process then stops gracefully within its
//! deadline and exits non-zero, for the service manager to start it again.
//!
//! Why exit rather than restart the task in place: each task owns in-memory state that a panic
//! may leave half-updated or lose (the gateway its roster, shard and session; the fan-out its
//! place on the bus). Restarting one task alone would serve from state nobody can vouch for,
//! while a fresh process rebuilds all of it from the database and Discord (and resumes the
//! gateway session that graceful shutdown saved), and the shutdown tells every open stream to
//! reconnect, so viewers come back to the exact roster.
//!
//! Owner: the `Supervisor` owns the tasks' handles; it is run by `run_until_stopped`, which
//! alone decides when the process stops.

use std::{any::Any, collections::HashMap, future::Future, pin::Pin};

use tokio::{
    sync::watch,
    task::{self, JoinError, JoinSet},
};
use tokio_util::sync::CancellationToken;

/// A task not started yet.
type Pending = (&'static str, Pin<Box<dyn Future<Output = ()> + Send + 'static>>);

/// What the tasks have done so far, for health and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskStatus {
    /// Tasks that panicked since the process started.
    pub panics: u64,
    /// The first task that failed, if one has: the process is stopping because of it.
    pub failed: Option<TaskFailure>,
}

/// A task that failed, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// The task's name (`gateway`, `fanout`, …).
    pub task: &'static str,
    /// The panic's message, when it had one.
    pub message: String,
}

/// Every background task, by name. See the module docs for what a failure does.
pub struct Supervisor {
    /// The server's shutdown: every task stops on it, and a failed task cancels it.
    shutdown: CancellationToken,
    /// Registered, not yet started (see [`Supervisor::start`]).
    pending: Vec<Pending>,
    running: JoinSet<()>,
    names: HashMap<task::Id, &'static str>,
    status: watch::Sender<TaskStatus>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field(
                "pending",
                &self.pending.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .field("running", &self.names.values().collect::<Vec<_>>())
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// A supervisor whose tasks stop on `shutdown`, which it cancels when one fails.
    pub fn new(shutdown: CancellationToken) -> Self {
        Self {
            shutdown,
            pending: Vec::new(),
            running: JoinSet::new(),
            names: HashMap::new(),
            status: watch::channel(TaskStatus::default()).0,
        }
    }

    /// Registers `task` under `name`, to be started by [`Supervisor::start`]. The task must
    /// end soon after the shutdown token is cancelled.
    pub fn add(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.pending.push((name, Box::pin(task)));
    }

    /// Follows the tasks' status (panics so far, and the failure the process stops for).
    pub fn status(&self) -> watch::Receiver<TaskStatus> {
        self.status.subscribe()
    }

    /// Starts every registered task.
    pub fn start(&mut self) {
        for (name, task) in self.pending.drain(..) {
            let handle = self.running.spawn(task);
            self.names.insert(handle.id(), name);
            tracing::debug!(task = name, "background task started");
        }
    }

    /// Watches the tasks until they have all ended after shutdown, or until `hard_stop`, when
    /// those still running are aborted. Returns the failure the process stopped for, if any.
    pub async fn run(&mut self, hard_stop: &CancellationToken) -> Option<TaskFailure> {
        loop {
            if self.running.is_empty() {
                if self.shutdown.is_cancelled() {
                    break;
                }
                tokio::select! {
                    () = self.shutdown.cancelled() => continue,
                    () = hard_stop.cancelled() => break,
                }
            }
            tokio::select! {
                biased;
                () = hard_stop.cancelled() => {
                    self.abort_the_rest().await;
                    break;
                }
                Some(joined) = self.running.join_next_with_id() => self.ended(joined),
            }
        }
        self.status.borrow().failed.clone()
    }

    fn ended(&mut self, joined: Result<(task::Id, ()), JoinError>) {
        let id = match &joined {
            Ok((id, ())) => *id,
            Err(err) => err.id(),
        };
        let task = self.names.remove(&id).unwrap_or("unnamed");
        match joined {
            Ok(_) if self.shutdown.is_cancelled() => tracing::debug!(task, "background task stopped"),
            // A task may end for good on its own (the gateway after a fatal close, which health
            // reports); that is not a crash.
            Ok(_) => tracing::warn!(task, "background task ended before shutdown"),
            Err(err) if err.is_panic() => {
                let message = panic_message(err.into_panic().as_ref());
                tracing::error!(task, panic = %message, "background task panicked; shutting down");
                metrics::counter!(crate::metric_names::TASK_PANICS).increment(1);
                self.status.send_modify(|status| {
                    status.panics += 1;
                    status.failed.get_or_insert(TaskFailure { task, message });
                });
                self.shutdown.cancel();
            }
            Err(_) => tracing::debug!(task, "background task cancelled"),
        }
    }

    /// Aborts the tasks still running at the deadline and waits for them to go.
    async fn abort_the_rest(&mut self) {
        let late: Vec<&str> = self.names.values().copied().collect();
        tracing::warn!(tasks = ?late, "background tasks still running at the shutdown deadline; aborted");
        self.running.abort_all();
        while let Some(joined) = self.running.join_next_with_id().await {
            self.ended(joined);
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_named_counted_and_stops_the_others() {
        let shutdown = CancellationToken::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        let status = supervisor.status();
        let stopped = CancellationToken::new();
        let (go, started) = tokio::sync::oneshot::channel::<()>();
        supervisor.add("steady", {
            let shutdown = shutdown.clone();
            let stopped = stopped.clone();
            async move {
                shutdown.cancelled().await;
                stopped.cancel();
            }
        });
        supervisor.add("janitor", async move {
            let _ = started.await;
            panic!("one room broke the sweep");
        });
        supervisor.start();
        go.send(()).unwrap();
        let failure =
            tokio::time::timeout(Duration::from_secs(10), supervisor.run(&CancellationToken::new()))
                .await
                .expect("the supervisor returns once every task has stopped");
        assert_eq!(
            failure,
            Some(TaskFailure {
                task: "janitor",
                message: "one room broke the sweep".to_owned()
            })
        );
        assert!(shutdown.is_cancelled(), "the failure starts the shutdown");
        assert!(stopped.is_cancelled(), "the other task stopped on it");
        assert_eq!(status.borrow().panics, 1);
        assert_eq!(status.borrow().failed.as_ref().map(|f| f.task), Some("janitor"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ignores_shutdown_is_aborted_at_the_hard_stop() {
        let shutdown = CancellationToken::new();
        let hard_stop = CancellationToken::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        let dropped = CancellationToken::new();
        supervisor.add("stuck", {
            let guard = dropped.clone().drop_guard();
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            }
        });
        supervisor.add("polite", {
            let shutdown = shutdown.clone();
            async move { shutdown.cancelled().await }
        });
        supervisor.start();
        shutdown.cancel();
        let deadline = {
            let hard_stop = hard_stop.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                hard_stop.cancel();
                std::future::pending::<()>().await;
            }
        };
        let start = tokio::time::Instant::now();
        tokio::select! {
            failure = supervisor.run(&hard_stop) => assert_eq!(failure, None),
            () = deadline => unreachable!(),
        }
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert!(dropped.is_cancelled(), "the stuck task was aborted");
        assert!(supervisor.running.is_empty());
    }

    #[tokio::test]
    async fn tasks_that_stop_on_shutdown_end_the_run_without_a_failure() {
        let shutdown = CancellationToken::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        for name in ["gateway", "fanout", "janitor", "sessions"] {
            let shutdown = shutdown.clone();
            supervisor.add(name, async move { shutdown.cancelled().await });
        }
        supervisor.start();
        shutdown.cancel();
        let failure =
            tokio::time::timeout(Duration::from_secs(10), supervisor.run(&CancellationToken::new()))
                .await
                .expect("every task stops on shutdown");
        assert_eq!(failure, None);
        assert_eq!(supervisor.status().borrow().panics, 0);
    }
}
