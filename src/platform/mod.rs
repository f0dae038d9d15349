//! The Workers platform layer (wasm32 only): the fetch entry point, the bindings and vars
//! (parsed by `config`), and the R2 / KV adapters. No protocol logic lives here.

mod advisories;
mod edge_cache;
mod guard;
mod http;
mod issuers;
mod kv;
mod queue;
mod r2;
mod webhooks;

use std::cell::OnceCell;
use std::rc::Rc;
use std::time::Duration;

use worker::{
    event, Context, Env, MessageBatch, Request, Response, ScheduleContext, ScheduledEvent,
};

use crate::app::{Answer, Registry};
use crate::auth::Auth;
use crate::config::{Config, ConfigError, Settings, Switches};
use crate::error::Error;
use crate::records::Environment;
use crate::storage::metered::{Metered, OpCounter};

/// Binding names, as declared in wrangler.toml.
const BUCKET_BINDING: &str = "REGISTRY_BUCKET";
const SESSIONS_BINDING: &str = "UPLOAD_SESSIONS";
/// Optional: public repositories' blob bytes, for `PUBLIC_BLOB_BASE_URL`.
const PUBLIC_BLOBS_BINDING: &str = "PUBLIC_BLOBS_BUCKET";

struct WorkerEnvironment;

impl Environment for WorkerEnvironment {
    fn now_ms(&self) -> u64 {
        worker::Date::now().as_millis()
    }

    fn new_id(&self) -> String {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes)
            .expect("the Workers runtime provides crypto.getRandomValues");
        hex::encode(bytes)
    }
}

/// A var or secret as text; `None` when unset.
fn text_var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|var| var.to_string())
}

type WorkerRegistry = Registry<Metered<r2::R2Store>, Metered<kv::KvSessions>, WorkerEnvironment>;

/// A deployment's settings, checked against its bindings.
#[derive(Clone)]
struct Deployment {
    config: Rc<Config>,
    auth: Rc<Auth>,
    switches: Switches,
}

thread_local! {
    /// The settings, parsed by the isolate's first request that finds them valid: vars,
    /// secrets and bindings never change under a running isolate (a deployment starts new
    /// ones), so some forty of them need not cross the JavaScript boundary and be parsed on
    /// every request. Invalid settings are not kept: every request reports them.
    static DEPLOYMENT: OnceCell<Deployment> = const { OnceCell::new() };
}

fn deployment(env: &Env) -> Result<Deployment, Error> {
    if let Some(deployment) = DEPLOYMENT.with(|cell| cell.get().cloned()) {
        return Ok(deployment);
    }
    let parsed = parse_deployment(env)?;
    Ok(DEPLOYMENT.with(|cell| cell.get_or_init(|| parsed).clone()))
}

fn parse_deployment(env: &Env) -> Result<Deployment, Error> {
    let mut settings = Settings::parse(|name| text_var(env, name))?;
    settings.config.scanning = env.queue(queue::JOBS_BINDING).is_ok();
    if !settings.config.scanning && !settings.config.webhooks.is_empty() {
        return Err(ConfigError::new("WEBHOOKS", "needs the JOBS queue (wrangler.toml)").into());
    }
    let public_base_url = settings
        .config
        .blob_urls
        .as_ref()
        .and_then(|urls| urls.public_base_url.as_ref());
    if public_base_url.is_some() && env.bucket(PUBLIC_BLOBS_BINDING).is_err() {
        return Err(ConfigError::new(
            PUBLIC_BLOBS_BINDING,
            "must be bound to an R2 bucket of its own when PUBLIC_BLOB_BASE_URL is set",
        )
        .into());
    }
    Ok(Deployment {
        config: Rc::new(settings.config),
        auth: Rc::new(settings.auth),
        switches: settings.switches,
    })
}

/// The registry over this request's bindings, and the platform's own switches; `counter` sees
/// every storage operation. Any invalid setting refuses the request (see `config`).
fn registry(env: &Env, counter: &OpCounter) -> Result<(WorkerRegistry, Switches), Error> {
    let Deployment {
        config,
        auth,
        switches,
    } = deployment(env)?;
    let public_blobs = env.bucket(PUBLIC_BLOBS_BINDING).ok();
    let bucket = env
        .bucket(BUCKET_BINDING)
        .map_err(|e| Error::Internal(format!("R2 binding: {e}")))?;
    let sessions = env
        .kv(SESSIONS_BINDING)
        .map_err(|e| Error::Internal(format!("KV binding: {e}")))?;
    let mut registry = Registry::new(
        Metered::new(r2::R2Store::new(bucket), counter.clone()),
        Metered::new(kv::KvSessions::new(sessions), counter.clone()),
        WorkerEnvironment,
        config,
        auth,
    )
    .with_issuer_fetch(issuers::WorkersFetch);
    // Maintenance cleans the bucket whenever it is bound, also once the mode is turned off.
    if let Some(public_blobs) = public_blobs {
        registry = registry.with_public_blobs(Metered::new(
            r2::R2Store::new(public_blobs),
            counter.clone(),
        ));
    }
    Ok((registry, switches))
}

/// The size of the module's linear memory, which only ever grows: its high-water mark.
fn wasm_memory_mib() -> usize {
    core::arch::wasm32::memory_size(0) * 65536 / (1024 * 1024)
}

#[event(start)]
fn start() {
    guard::install();
}

/// The Cron Trigger: one maintenance run, summarised in the log; then, with scanning on, a
/// refresh of the advisory sources and the scans' sweep when one is due.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    // A run under way keeps the instance from being reinitialised after a request panicked.
    let _in_flight = guard::InFlight::enter();
    let counter = OpCounter::default();
    let (registry, switches) = match registry(&env, &counter) {
        Ok(registry) => registry,
        Err(error) => return worker::console_error!("maintenance failed: {error}"),
    };
    match registry.maintain(switches.maintenance_dry_run).await {
        Ok(report) => worker::console_log!(
            "maintenance: {}",
            serde_json::to_string(&report).expect("report serialises")
        ),
        Err(error) => worker::console_error!("maintenance failed: {error}"),
    }
    if registry.config.scanning {
        refresh_advisories(&registry).await;
        if let Err(error) = registry.jobs().start_sweep_if_due().await {
            worker::console_error!("scans' sweep: {error}");
        }
        send_jobs(&env, &registry).await;
    }
}

/// The queue's consumer: scans, matching, advisory indexing and sweeps (see `jobs`).
#[event(queue)]
async fn consume(batch: MessageBatch<String>, env: Env, _ctx: Context) -> worker::Result<()> {
    let _in_flight = guard::InFlight::enter();
    let counter = OpCounter::default();
    let (registry, switches) = match registry(&env, &counter) {
        Ok(registry) => registry,
        Err(error) => {
            // Retried: the settings may be fixed before the retries run out.
            worker::console_error!("jobs: {error}");
            batch.retry_all();
            return Ok(());
        }
    };
    let jobs = env.queue(queue::JOBS_BINDING)?;
    let ops = switches.log_storage_ops.then_some(&counter);
    queue::consume(batch, &registry, &jobs, ops).await;
    Ok(())
}

/// Sends what the registry queued. A job lost here is found again by the sweep.
async fn send_jobs(env: &Env, registry: &WorkerRegistry) {
    let jobs = registry.take_jobs();
    if jobs.is_empty() {
        return;
    }
    let sent = match env.queue(queue::JOBS_BINDING) {
        Ok(queue) => queue::send(&queue, jobs).await,
        Err(error) => Err(error),
    };
    if let Err(error) = sent {
        worker::console_error!("jobs unsent: {error}");
    }
}

/// Refreshes the advisories from `ADVISORY_SOURCES` (see `jobs::advisories::refresh`).
async fn refresh_advisories(registry: &WorkerRegistry) {
    let refreshed = crate::jobs::advisories::refresh(
        &registry.records,
        &registry.config.advisory_sources,
        registry.config.part_size,
        advisories::fetch_export,
    )
    .await;
    match refreshed {
        Ok(report) if report.is_empty() => {}
        Ok(report) => worker::console_log!(
            "advisories: {}",
            serde_json::to_string(&report).expect("report serialises")
        ),
        Err(error) => worker::console_error!("refreshing advisories failed: {error}"),
    }
}

#[event(fetch)]
async fn fetch(request: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let _in_flight = guard::InFlight::enter();
    let method = request.method().to_string();
    let path = request.path();
    let work = {
        let (method, path) = (method.clone(), path.clone());
        async move { answer(request, &env, &ctx, &method, &path).await }
    };
    match guard::guarded(work).await {
        Some(Ok(response)) => Ok(response),
        // A failure of the runtime's own (a request or response it will not convert) is still
        // an OCI error, not an exception that the runtime answers with a bare 500.
        Some(Err(error)) => {
            worker::console_error!("{method} {path}: {error}");
            http::error_response(&Error::Internal(error.to_string()))
        }
        None => http::error_response(&Error::Internal("the request panicked".to_string())),
    }
}

async fn answer(
    request: Request,
    env: &Env,
    ctx: &Context,
    method: &str,
    path: &str,
) -> worker::Result<Response> {
    // Tests only (scripts/test sets it, production never does): a request to this path
    // panics while a timer it started is pending, and after it woke its own task in the same
    // poll, to show what a panic costs others.
    if text_var(env, "TEST_PANIC_PATH").as_deref() == Some(path) {
        let wake_self = futures::future::poll_fn(|cx| {
            cx.waker().wake_by_ref();
            std::task::Poll::<()>::Pending
        });
        let panic = async { panic!("TEST_PANIC_PATH {path} requested") };
        futures::join!(
            worker::Delay::from(Duration::from_millis(100)),
            wake_self,
            panic
        );
    }
    let counter = OpCounter::default();
    let (registry, switches) = match registry(env, &counter) {
        Ok(registry) => registry,
        Err(error) => {
            worker::console_error!("{method} {path}: {error}");
            return http::error_response(&error);
        }
    };
    let request = match http::into_core(request) {
        Ok(request) => request,
        Err(error) => return http::error_response(&error),
    };
    let body = request.body.clone();
    let cache = edge_cache::WorkersCache::new(ctx);
    let (response, error) = match registry.handle_with_cache(request, &cache).await {
        Answer::FromEdgeCache(hit) => return http::from_core(hit),
        Answer::Handled(response, error) => (response, error),
    };
    if let Some(error) = &error {
        body.drain(error).await;
    }
    send_jobs(env, &registry).await;
    if let Some(error @ Error::Internal(_)) = &error {
        worker::console_error!("{method} {path}: {error}");
    }
    // On request only: a line per request is cheap at the edge but not free, and it was the
    // largest part of a small request's cost under `wrangler dev`. Operators (and
    // scripts/bench, scripts/measure-memory) see what each request costs in billed storage
    // operations, how it failed, and the wasm memory, which must not grow with a blob.
    if switches.log_storage_ops {
        let ops = counter.counts();
        let outcome = error.map_or(String::new(), |error| format!(" {}", error.code()));
        worker::console_log!(
            "storage ops {method} {path} {}{outcome}: class_a={} class_b={} kv_reads={} kv_writes={}; {} MiB of wasm memory",
            response.status.as_u16(),
            ops.class_a,
            ops.class_b,
            ops.kv_reads,
            ops.kv_writes,
            wasm_memory_mib()
        );
    }
    http::from_core(response)
}
