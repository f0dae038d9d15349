//! The Workers platform layer (wasm32 only): the fetch entry point, configuration from
//! wrangler.toml vars, and the R2 / KV adapters. No protocol logic lives here.

mod edge_cache;
mod http;
mod kv;
mod r2;

use worker::{event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent};

use crate::app::{BlobEndpoint, BlobUrls, Config, Environment, Registry};
use crate::auth::{self, Auth, Policy, SigningKey};
use crate::error::Error;
use crate::maintenance::{self, retention::Retention, MaintenanceConfig};
use crate::presign::{Credentials, Signer, MAX_EXPIRES_SECONDS};
use crate::storage::metered::{Metered, OpCounter};

/// Binding names, as declared in wrangler.toml.
const BUCKET_BINDING: &str = "REGISTRY_BUCKET";
const SESSIONS_BINDING: &str = "UPLOAD_SESSIONS";

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

/// An optional numeric var; a present but malformed one is a configuration error.
fn numeric_var(env: &Env, name: &str) -> Result<Option<u64>, Error> {
    let Ok(var) = env.var(name) else {
        return Ok(None);
    };
    let text = var.to_string();
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| Error::Internal(format!("var {name}={text:?} is not a number")))
}

/// Redirects of large pulls, from `BLOB_REDIRECT`: `presigned` (R2's S3 endpoint, the default
/// when R2 credentials are set), `local` (the worker signs and serves its own URLs), `off`.
fn blob_urls(env: &Env) -> Result<Option<BlobUrls>, Error> {
    let missing = |name: &str| Error::Internal(format!("BLOB_REDIRECT needs {name}"));
    let access_key_id = text_var(env, "R2_ACCESS_KEY_ID");
    let default_mode = if access_key_id.is_some() {
        "presigned"
    } else {
        "off"
    };
    let mode = text_var(env, "BLOB_REDIRECT").unwrap_or_else(|| default_mode.into());
    let (credentials, endpoint) = match mode.as_str() {
        "off" => return Ok(None),
        "presigned" => {
            let account = text_var(env, "R2_ACCOUNT_ID").ok_or_else(|| missing("R2_ACCOUNT_ID"))?;
            let credentials = Credentials {
                access_key_id: access_key_id.ok_or_else(|| missing("R2_ACCESS_KEY_ID"))?,
                secret_access_key: text_var(env, "R2_SECRET_ACCESS_KEY")
                    .ok_or_else(|| missing("R2_SECRET_ACCESS_KEY"))?,
            };
            let endpoint = BlobEndpoint::R2 {
                host: text_var(env, "R2_S3_HOST")
                    .unwrap_or_else(|| format!("{account}.r2.cloudflarestorage.com")),
                bucket: text_var(env, "R2_BUCKET_NAME").unwrap_or_else(|| "edge-registry".into()),
            };
            (credentials, endpoint)
        }
        "local" => {
            let token_key =
                text_var(env, "TOKEN_SIGNING_KEY").ok_or_else(|| missing("TOKEN_SIGNING_KEY"))?;
            (Credentials::local(&token_key), BlobEndpoint::Worker)
        }
        other => {
            return Err(Error::Internal(format!(
                "BLOB_REDIRECT={other:?}: use presigned, local or off"
            )))
        }
    };
    let expires_seconds = numeric_var(env, "PRESIGN_EXPIRES_SECONDS")?
        .unwrap_or(crate::app::DEFAULT_PRESIGN_EXPIRES_SECONDS)
        .clamp(1, MAX_EXPIRES_SECONDS);
    Ok(Some(BlobUrls {
        signer: Signer {
            credentials,
            region: "auto".into(),
        },
        endpoint,
        expires_seconds,
        public_base_url: text_var(env, "PUBLIC_BLOB_BASE_URL"),
    }))
}

fn config(env: &Env) -> Result<Config, Error> {
    let defaults = Config::default();
    Ok(Config {
        part_size: numeric_var(env, "UPLOAD_PART_MIB")?
            .map_or(defaults.part_size, |mib| mib * 1024 * 1024),
        upload_ttl_seconds: numeric_var(env, "UPLOAD_TTL_SECONDS")?
            .unwrap_or(defaults.upload_ttl_seconds),
        chunk_max_length: numeric_var(env, "CHUNK_MAX_LENGTH")?.or(defaults.chunk_max_length),
        segment_parts: numeric_var(env, "UPLOAD_SEGMENT_PARTS")?.unwrap_or(defaults.segment_parts),
        blob_urls: blob_urls(env)?,
        redirect_min_bytes: numeric_var(env, "REDIRECT_MIN_BYTES")?
            .unwrap_or(defaults.redirect_min_bytes),
        tag_cache_seconds: numeric_var(env, "TAG_CACHE_SECONDS")?
            .unwrap_or(defaults.tag_cache_seconds),
        edge_cache_seconds: numeric_var(env, "EDGE_CACHE_SECONDS")?
            .unwrap_or(defaults.edge_cache_seconds),
        maintenance: maintenance_config(env)?,
    })
}

fn maintenance_config(env: &Env) -> Result<MaintenanceConfig, Error> {
    let retention = Retention::parse(&text_var(env, "RETENTION").unwrap_or_default())
        .map_err(Error::Internal)?;
    Ok(MaintenanceConfig {
        grace_seconds: numeric_var(env, "GC_GRACE_SECONDS")?
            .unwrap_or(maintenance::DEFAULT_GRACE_SECONDS),
        retention,
        step_operations: numeric_var(env, "GC_STEP_OPERATIONS")?
            .map_or(maintenance::DEFAULT_STEP_OPERATIONS, |n| {
                n.clamp(maintenance::MIN_STEP_OPERATIONS.into(), u32::MAX.into()) as u32
            }),
    })
}

/// A var or secret as text; `None` when unset.
fn text_var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|var| var.to_string())
}

/// Access control from vars and secrets. Errors name the setting, never its value.
fn auth(env: &Env) -> Result<Auth, Error> {
    let config_error = |e| Error::from_auth(e, String::new());
    let policy = Policy::parse(
        &text_var(env, "REGISTRY_USERS").unwrap_or_default(),
        text_var(env, "REGISTRY_ADMIN").as_deref(),
        &text_var(env, "REGISTRY_PRIVATE").unwrap_or_default(),
    )
    .map_err(config_error)?;
    let signing_key = text_var(env, "TOKEN_SIGNING_KEY")
        .map(|key| SigningKey::new(&key))
        .transpose()
        .map_err(config_error)?;
    Ok(Auth {
        policy,
        signing_key,
        token_ttl_seconds: numeric_var(env, "TOKEN_TTL_SECONDS")?
            .unwrap_or(auth::DEFAULT_TOKEN_TTL_SECONDS)
            .max(auth::MIN_TOKEN_TTL_SECONDS),
        refresh_ttl_seconds: numeric_var(env, "REFRESH_TOKEN_TTL_SECONDS")?
            .unwrap_or(auth::DEFAULT_REFRESH_TTL_SECONDS),
    })
}

type WorkerRegistry = Registry<Metered<r2::R2Store>, Metered<kv::KvSessions>, WorkerEnvironment>;

/// The registry over this request's bindings; `counter` sees every storage operation.
fn registry(env: &Env, counter: &OpCounter) -> Result<WorkerRegistry, Error> {
    let bucket = env
        .bucket(BUCKET_BINDING)
        .map_err(|e| Error::Internal(format!("R2 binding: {e}")))?;
    let sessions = env
        .kv(SESSIONS_BINDING)
        .map_err(|e| Error::Internal(format!("KV binding: {e}")))?;
    Ok(Registry::new(
        Metered::new(r2::R2Store::new(bucket), counter.clone()),
        Metered::new(kv::KvSessions::new(sessions), counter.clone()),
        WorkerEnvironment,
        config(env)?,
        auth(env)?,
    ))
}

/// The size of the module's linear memory, which only ever grows: its high-water mark.
fn wasm_memory_mib() -> usize {
    core::arch::wasm32::memory_size(0) * 65536 / (1024 * 1024)
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The Cron Trigger: one maintenance run, summarised in the log.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let counter = OpCounter::default();
    let dry_run = text_var(&env, "GC_DRY_RUN").as_deref() == Some("1");
    let outcome = match registry(&env, &counter) {
        Ok(registry) => registry.maintain(dry_run).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(report) => worker::console_log!(
            "maintenance: {}",
            serde_json::to_string(&report).expect("report serialises")
        ),
        Err(error) => worker::console_error!("maintenance failed: {error:?}"),
    }
}

#[event(fetch)]
async fn fetch(request: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let method = request.method().to_string();
    let path = request.path();
    match answer(request, &env, &ctx, &method, &path).await {
        Ok(response) => Ok(response),
        // A failure of the runtime's own (a request or response it will not convert) is still
        // an OCI error, not an exception that the runtime answers with a bare 500.
        Err(error) => {
            worker::console_error!("{method} {path}: {error}");
            http::error_response(&Error::Internal(error.to_string()))
        }
    }
}

async fn answer(
    request: Request,
    env: &Env,
    ctx: &Context,
    method: &str,
    path: &str,
) -> worker::Result<Response> {
    let counter = OpCounter::default();
    let registry = match registry(env, &counter) {
        Ok(registry) => registry,
        Err(error) => {
            worker::console_error!("{method} {path}: {error:?}");
            return http::error_response(&error);
        }
    };
    let request = http::into_core(request)?;
    let cache_key = registry.edge_cache_key(&request);
    if let Some(key) = &cache_key {
        if let Some(hit) = edge_cache::lookup(key, &request).await {
            if registry.accepts_credentials(&request) {
                return Ok(hit);
            }
        }
    }
    let purge_key = registry.edge_cache_purge_key(&request);
    let body = request.body.clone();
    let (response, error) = registry.handle(request).await;
    if error.is_some() {
        body.drain().await;
    }
    match &error {
        Some(error @ Error::Internal(_)) => worker::console_error!("{method} {path}: {error:?}"),
        Some(error) => worker::console_log!("{method} {path}: {} {}", error.status(), error.code()),
        None if method == "PATCH" || method == "PUT" => {
            // Uploads are where memory could grow with the blob; the log shows it does not.
            worker::console_log!("{method} {path}: {} MiB of wasm memory", wasm_memory_mib())
        }
        None => {}
    }
    // Operators (and scripts/bench) see what each request costs in billed storage operations.
    if text_var(env, "LOG_STORAGE_OPS").as_deref() == Some("1") {
        let ops = counter.counts();
        worker::console_log!(
            "storage ops {method} {path} {}: class_a={} class_b={} kv_reads={} kv_writes={}",
            response.status,
            ops.class_a,
            ops.class_b,
            ops.kv_reads,
            ops.kv_writes
        );
    }
    if let (Some(key), None) = (purge_key, &error) {
        edge_cache::purge(&key).await;
    }
    let edge_cache_control = registry.edge_cache_control(&response);
    match (cache_key, edge_cache_control) {
        (Some(key), Some(cache_control)) => {
            edge_cache::store(key, http::from_core(response)?, &cache_control, ctx)
        }
        _ => http::from_core(response),
    }
}
