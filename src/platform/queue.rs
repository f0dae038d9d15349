//! The jobs queue: sending what the core queued, and consuming it (`#[event(queue)]` in the
//! same worker). Messages are jobs as JSON text.

use worker::{MessageBatch, MessageExt, Queue, QueueRetryOptionsBuilder};

use super::WorkerRegistry;
use crate::scan::Job;
use crate::storage::metered::OpCounter;

/// The queue binding, as declared in wrangler.toml; scanning is off without it.
pub const JOBS_BINDING: &str = "JOBS";
/// The dead-letter queue's name (wrangler.toml): jobs whose retries ran out arrive there.
const DEAD_LETTER_QUEUE: &str = "edge-registry-jobs-dead";
/// The most messages one `sendBatch` takes.
const SEND_BATCH_MAX: usize = 100;
/// Retries wait as long as the job has existed (so the waits double), within these bounds.
const RETRY_DELAY_MIN_SECONDS: u32 = 10;
const RETRY_DELAY_MAX_SECONDS: u32 = 3600;

/// Sends `jobs`; an error leaves them unsent (the caller decides what that costs).
pub async fn send(queue: &Queue, jobs: Vec<Job>) -> worker::Result<()> {
    let messages: Vec<String> = jobs
        .iter()
        .map(|job| serde_json::to_string(job).expect("job serialises"))
        .collect();
    for batch in messages.chunks(SEND_BATCH_MAX) {
        queue.send_batch(batch.to_vec()).await?;
    }
    Ok(())
}

/// Runs each job of `batch`; acknowledges it once it ran and what it queued was sent, retries
/// it with backoff after an internal error, and drops a malformed one with a log line.
/// With `ops` (LOG_STORAGE_OPS), each job's billed storage operations are logged too.
pub async fn consume(
    batch: MessageBatch<String>,
    registry: &WorkerRegistry,
    queue: &Queue,
    ops: Option<&OpCounter>,
) {
    let dead = batch.queue() == DEAD_LETTER_QUEUE;
    let messages = match batch.messages() {
        Ok(messages) => messages,
        Err(error) => {
            worker::console_error!("jobs: unreadable batch: {error}");
            return batch.ack_all();
        }
    };
    for message in messages {
        let job: Job = match serde_json::from_str(message.body()) {
            Ok(job) => job,
            Err(error) => {
                worker::console_error!("jobs: dropped {:?}: {error}", message.body());
                message.ack();
                continue;
            }
        };
        if let Job::Deliver { receiver, event } = &job {
            deliver(&message, registry, receiver, event, dead).await;
            continue;
        }
        let before = ops.map(OpCounter::counts);
        let outcome = if dead {
            worker::console_error!("jobs: gave up on {}", message.body());
            registry.jobs().gave_up(&job).await
        } else {
            registry.jobs().run(job.clone()).await
        };
        let sent = send(queue, registry.take_jobs()).await;
        match (outcome, sent) {
            (Ok(()), Ok(())) => {
                // Scans stream layers of any size: the log shows memory does not grow with them.
                worker::console_log!(
                    "jobs: {} done, {} MiB of wasm memory",
                    message.body(),
                    super::wasm_memory_mib()
                );
                if let (Some(ops), Some(before)) = (ops, before) {
                    let after = ops.counts();
                    worker::console_log!(
                        "storage ops {}: class_a={} class_b={}",
                        message.body(),
                        after.class_a - before.class_a,
                        after.class_b - before.class_b
                    );
                }
                message.ack();
            }
            (Err(error), _) if error.status().is_server_error() => {
                worker::console_error!("jobs: {} failed: {error}", message.body());
                if let Err(note) = registry.jobs().attempt_failed(&job, &error).await {
                    worker::console_error!("jobs: could not note the failure: {note}");
                }
                message.retry_with_options(&retry_delay(&message));
            }
            (Err(error), _) => {
                worker::console_error!("jobs: dropped {}: {error}", message.body());
                message.ack();
            }
            (Ok(()), Err(error)) => {
                worker::console_error!(
                    "jobs: {} ran, its follow-ups unsent: {error}",
                    message.body()
                );
                message.retry_with_options(&retry_delay(&message));
            }
        }
    }
}

/// One webhook delivery: acknowledged once the receiver answered 2xx, retried with backoff
/// otherwise. On the dead-letter queue (its retries ran out) it has one last attempt, and a
/// failure there is logged as the reason it was given up (the receiver's host and the status
/// or error: never the secret or the signature) and dropped.
async fn deliver(
    message: &worker::Message<String>,
    registry: &WorkerRegistry,
    receiver: &str,
    event: &crate::webhooks::Event,
    dead: bool,
) {
    let now = worker::Date::now().as_millis();
    let poster = super::webhooks::WorkersPoster;
    let webhooks = &registry.config.webhooks;
    match crate::webhooks::deliver(webhooks, receiver, event, now, &poster).await {
        Ok(()) => {
            worker::console_log!(
                "webhooks: {} {} delivered to {}",
                event.kind.name(),
                event.id,
                crate::webhooks::host_of(receiver)
            );
            message.ack();
        }
        Err(failed) if dead => {
            worker::console_error!("webhooks: gave up after the last retry: {failed}");
            message.ack();
        }
        Err(failed) => {
            worker::console_error!("webhooks: failed, retried: {failed}");
            message.retry_with_options(&retry_delay(message));
        }
    }
}

fn retry_delay(message: &worker::Message<String>) -> worker::QueueRetryOptions {
    let age_ms = worker::Date::now()
        .as_millis()
        .saturating_sub(message.timestamp().as_millis());
    let seconds = u32::try_from(age_ms / 1000).unwrap_or(u32::MAX);
    QueueRetryOptionsBuilder::new()
        .with_delay_seconds(seconds.clamp(RETRY_DELAY_MIN_SECONDS, RETRY_DELAY_MAX_SECONDS))
        .build()
}
