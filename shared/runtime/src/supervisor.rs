//! A set of named tasks that live and die together.
//!
//! Tasks are registered with [`Supervisor::spawn`] and started by [`Supervisor::run`]. While
//! running, the readiness flag is kept equal to "every condition holds" (checked every
//! [`READINESS_TICK`]). The first task to return an error, panic, or return at all before
//! shutdown is a failure: readiness falls at once, the stop token is cancelled so the others
//! finish, and `run` returns that failure. A task returning `Ok` after the stop is a clean end.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use hotline_telemetry::Readiness;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How often readiness is recomputed from the conditions (failures turn it false at once).
pub const READINESS_TICK: Duration = Duration::from_millis(250);

/// How long tasks get to finish after the stop before they are aborted.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(30);

/// After a failure, how long the service keeps answering (`/readyz` 503) before it stops: long
/// enough for a probe to see why it is going away rather than only a refused connection.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(2);

type Task = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'static>>;
type Condition = Arc<dyn Fn() -> bool + Send + Sync + 'static>;

pub struct Supervisor {
    service: &'static str,
    /// Cancelled by the caller's shutdown or by the first failure; every task watches it.
    stop: CancellationToken,
    readiness: Readiness,
    conditions: Vec<(&'static str, Condition)>,
    pending: Vec<(&'static str, Task)>,
    drain: Duration,
    linger: Duration,
}

impl Supervisor {
    /// A supervisor for `service` that stops when `shutdown` is cancelled.
    pub fn new(service: &'static str, shutdown: &CancellationToken) -> Supervisor {
        Supervisor {
            service,
            stop: shutdown.child_token(),
            readiness: Readiness::default(),
            conditions: Vec::new(),
            pending: Vec::new(),
            drain: DEFAULT_DRAIN,
            linger: DEFAULT_LINGER,
        }
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// The token every task must stop on: cancelled at shutdown and at the first failure.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// The flag `/readyz` reports; maintained by [`Supervisor::run`], never set by tasks.
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// A further condition for readiness (NATS connected, an index loaded, ...). `name` is
    /// logged when the condition changes.
    pub fn ready_when(
        &mut self,
        name: &'static str,
        condition: impl Fn() -> bool + Send + Sync + 'static,
    ) {
        self.conditions.push((name, Arc::new(condition)));
    }

    /// How long tasks may take to finish after the stop (default [`DEFAULT_DRAIN`]).
    pub fn drain_within(&mut self, drain: Duration) {
        self.drain = drain;
    }

    /// How long the service stays up, unready, after a failure (default [`DEFAULT_LINGER`]).
    pub fn linger_on_failure(&mut self, linger: Duration) {
        self.linger = linger;
    }

    /// Registers a task; it starts when [`Supervisor::run`] is called. It must return when the
    /// [`Supervisor::stop_token`] is cancelled, and only then.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.pending.push((name, Box::pin(task)));
    }

    /// Starts the tasks and supervises them until the stop; returns the first failure.
    pub async fn run(self) -> anyhow::Result<()> {
        let Supervisor {
            service,
            stop,
            readiness,
            conditions,
            pending,
            drain,
            linger,
        } = self;
        // Ready as the tasks start (if the conditions hold), not a tick later: a probe that
        // reaches a started server is answered truthfully.
        let mut unmet = unmet_condition(&conditions);
        readiness.set(unmet.is_none() && !stop.is_cancelled());
        let mut tasks = JoinSet::new();
        let mut names = HashMap::new();
        for (name, task) in pending {
            let handle = tasks.spawn(task);
            names.insert(handle.id(), name);
        }
        tracing::info!(service, tasks = names.len(), "service started");

        let mut tick = tokio::time::interval(READINESS_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if let Some(condition) = unmet {
            tracing::info!(service, condition, "waiting to be ready");
        }
        let mut failure: Option<anyhow::Error> = None;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                Some(joined) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    let e = match outcome(&mut names, joined) {
                        Ended::Failed(e) => e,
                        // Returning is what tasks do once stopped; before that it is a failure
                        // even when clean-looking: a consumer that returns has stopped consuming.
                        Ended::Clean(_) if stop.is_cancelled() => break,
                        Ended::Clean(name) => anyhow!("task `{name}` ended before shutdown"),
                    };
                    tracing::error!(service, error = %format!("{e:#}"), "a task stopped; stopping the service");
                    failure = Some(e);
                    break;
                }
                _ = tick.tick() => {
                    let now = unmet_condition(&conditions);
                    if now != unmet {
                        match now {
                            Some(condition) => tracing::warn!(service, condition, "not ready"),
                            None => tracing::info!(service, "ready"),
                        }
                        unmet = now;
                    }
                    readiness.set(now.is_none() && !stop.is_cancelled());
                }
            }
        }
        // Out of the load balancer first, then stop the rest and let them finish.
        readiness.set(false);
        if failure.is_some() {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep(linger) => {}
            }
        }
        stop.cancel();

        let drained = tokio::time::timeout(drain, async {
            while let Some(joined) = tasks.join_next_with_id().await {
                match outcome(&mut names, joined) {
                    Ended::Clean(_) => {}
                    Ended::Failed(e) => {
                        tracing::error!(service, error = %format!("{e:#}"), "a task failed while stopping");
                        failure.get_or_insert(e);
                    }
                }
            }
        })
        .await;
        if drained.is_err() {
            let left: Vec<_> = names.values().copied().collect();
            tracing::error!(
                service,
                ?left,
                ?drain,
                "tasks did not stop in time; aborting them"
            );
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            failure.get_or_insert_with(|| anyhow!("tasks did not stop within {drain:?}"));
        }
        match failure {
            Some(e) => Err(e.context(format!("{service} stopped"))),
            None => {
                tracing::info!(service, "service stopped");
                Ok(())
            }
        }
    }
}

/// The first condition for readiness that does not hold.
fn unmet_condition(conditions: &[(&'static str, Condition)]) -> Option<&'static str> {
    conditions
        .iter()
        .find(|(_, holds)| !holds())
        .map(|(name, _)| *name)
}

/// How a task ended.
enum Ended {
    /// It returned `Ok` (whether that was early is the caller's call).
    Clean(&'static str),
    /// It returned an error, panicked or was aborted; the error names the task.
    Failed(anyhow::Error),
}

/// The joined task leaves `names`, which so lists the tasks still running.
fn outcome(
    names: &mut HashMap<tokio::task::Id, &'static str>,
    joined: Result<(tokio::task::Id, anyhow::Result<()>), tokio::task::JoinError>,
) -> Ended {
    match joined {
        Ok((id, Ok(()))) => Ended::Clean(name_of(names, id)),
        Ok((id, Err(e))) => {
            Ended::Failed(e.context(format!("task `{}` failed", name_of(names, id))))
        }
        Err(e) => {
            let name = name_of(names, e.id());
            if !e.is_panic() {
                return Ended::Failed(anyhow!("task `{name}` was aborted"));
            }
            let payload = e.into_panic();
            let why = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-text panic".to_owned());
            Ended::Failed(anyhow!("task `{name}` panicked: {why}"))
        }
    }
}

fn name_of(
    names: &mut HashMap<tokio::task::Id, &'static str>,
    id: tokio::task::Id,
) -> &'static str {
    names.remove(&id).unwrap_or("unnamed")
}

#[cfg(test)]
mod tests;
