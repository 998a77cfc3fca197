//! Group commit for consumers that write a row or two per event: the events handled at the same
//! moment (the lanes of a consumer round, [`crate::consumer`]) share one transaction instead of
//! paying a `BEGIN`/`COMMIT` and a WAL flush each.
//!
//! A handler [`GroupCommit::submit`]s its item and waits for its own result. One task takes
//! everything queued (up to `max`) and runs it as one batch; while a batch runs, the next one
//! fills, so batches grow with the load and no linger is needed at low load. A few workers run
//! batches side by side, so one slow commit does not hold the consumer back. Order per key is the
//! consumer's: a lane submits its next event only after the previous one's result.

use std::future::Future;

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

/// A handle for submitting items to the batch task. Cloning shares the task; the task ends when
/// every handle is dropped.
pub struct GroupCommit<T, R> {
    queue: mpsc::Sender<(T, oneshot::Sender<R>)>,
}

impl<T, R> Clone for GroupCommit<T, R> {
    fn clone(&self) -> Self {
        GroupCommit {
            queue: self.queue.clone(),
        }
    }
}

/// The batch task is gone (it panicked, or the runtime is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the group commit task is gone")]
pub struct Gone;

impl<T, R> GroupCommit<T, R>
where
    T: Send + 'static,
    R: Send + 'static,
{
    /// Spawns `workers` batch tasks (each a transaction at a time: a connection each). `run`
    /// gets a batch in arrival order and must return one result per item, in the same order (a
    /// shorter answer leaves the missing items with [`Gone`]).
    pub fn spawn<F, Fut>(max: usize, workers: usize, run: F) -> GroupCommit<T, R>
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send,
    {
        let max = max.max(1);
        let (queue, rx) = mpsc::channel::<(T, oneshot::Sender<R>)>(max * 4);
        let rx = Arc::new(Mutex::new(rx));
        let run = Arc::new(run);
        for _ in 0..workers.max(1) {
            let (rx, run) = (rx.clone(), run.clone());
            tokio::spawn(async move {
                let mut batch = Vec::with_capacity(max);
                loop {
                    // One worker takes what is queued while the others run theirs.
                    let taken = rx.lock().await.recv_many(&mut batch, max).await;
                    if taken == 0 {
                        return;
                    }
                    let (items, replies): (Vec<T>, Vec<oneshot::Sender<R>>) =
                        std::mem::take(&mut batch).into_iter().unzip();
                    let results = run(items).await;
                    for (reply, result) in replies.into_iter().zip(results) {
                        // The submitter may have given up (its consumer is shutting down).
                        let _ = reply.send(result);
                    }
                }
            });
        }
        GroupCommit { queue }
    }

    /// Queues `item` for the next batch and waits for its result.
    pub async fn submit(&self, item: T) -> Result<R, Gone> {
        let (reply, result) = oneshot::channel();
        self.queue.send((item, reply)).await.map_err(|_| Gone)?;
        result.await.map_err(|_| Gone)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::GroupCommit;

    #[tokio::test]
    async fn concurrent_submissions_share_batches_and_get_their_own_results() {
        let batches = Arc::new(AtomicUsize::new(0));
        let counted = batches.clone();
        let group = GroupCommit::spawn(64, 1, move |items: Vec<u32>| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                // Long enough for the other submitters to queue behind the first batch.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                items.into_iter().map(|i| i * 10).collect::<Vec<_>>()
            }
        });
        let results = futures::future::join_all((0..100u32).map(|i| {
            let group = group.clone();
            async move { group.submit(i).await }
        }))
        .await;
        for (i, r) in results.into_iter().enumerate() {
            assert_eq!(r.expect("result"), i as u32 * 10);
        }
        let n = batches.load(Ordering::SeqCst);
        assert!(n < 10, "100 concurrent items took {n} batches");
    }

    #[tokio::test]
    async fn a_short_answer_leaves_the_rest_with_gone() {
        let group = GroupCommit::spawn(8, 2, |items: Vec<u32>| async move {
            items.into_iter().take(0).collect::<Vec<u32>>()
        });
        assert!(group.submit(1).await.is_err());
    }
}
