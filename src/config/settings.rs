//! The deployment's settings, from the worker's vars and secrets as text: every one parsed and
//! checked here, so that a wrong value stops the registry with an error that names the
//! setting instead of being read as something else. The platform hands over the text
//! ([`Settings::parse`] takes a lookup function) and refuses every request while a setting is
//! invalid: a registry that misreads its configuration must not run at all, least of all
//! more public than configured.

use std::ops::RangeInclusive;

use super::{BlobEndpoint, BlobUrls, Config, DEFAULT_PRESIGN_EXPIRES_SECONDS};
use crate::auth::oidc::Trust;
use crate::auth::{self, policy, Auth, AuthError, OidcSettings, Policy, SigningKey};
use crate::error::Error;
use crate::immutable_tags::ImmutableTags;
use crate::maintenance::{self, retention::Retention, MaintenanceConfig};
use crate::presign::{Credentials, Signer, MAX_EXPIRES_SECONDS};
use crate::upload::MAX_SEGMENT_PARTS;

/// A setting that cannot be used, and why. `why` never quotes the value of a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting} {why}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub why: String,
}

impl ConfigError {
    pub fn new(setting: &'static str, why: impl Into<String>) -> Self {
        ConfigError {
            setting,
            why: why.into(),
        }
    }

    /// Secrets, and settings derived from them, whose errors are told only to the log.
    pub fn is_secret(&self) -> bool {
        SECRETS.contains(&self.setting)
    }
}

impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Self {
        Error::Misconfigured {
            secret: error.is_secret(),
            setting: error.setting,
            why: error.why,
        }
    }
}

/// Set with `wrangler secret put`, or naming what is private: their text stays out of every
/// answer.
const SECRETS: &[&str] = &[
    "REGISTRY_PRIVATE",
    "TOKEN_SIGNING_KEY",
    "REGISTRY_USERS",
    "REGISTRY_ADMIN",
    "R2_ACCESS_KEY_ID",
    "R2_SECRET_ACCESS_KEY",
    "WEBHOOKS",
];

const MIB: u64 = 1024 * 1024;
const DAY_SECONDS: u64 = 24 * 60 * 60;
const YEAR_SECONDS: u64 = 365 * DAY_SECONDS;

/// R2's smallest multipart part; an upload holds about three parts in the Workers' 128 MB.
pub const PART_MIB: RangeInclusive<u64> = 5..=32;
/// R2 aborts a multipart upload after 7 days, so a longer session would lose its parts. The
/// registry ends sessions itself (KV's 60-second floor only keeps the record longer).
pub const UPLOAD_TTL_SECONDS: RangeInclusive<u64> = 1..=7 * DAY_SECONDS;
/// Docker's token specification: at least 60 seconds; a bearer token that lives longer than
/// a day is a password.
pub const TOKEN_TTL_SECONDS: RangeInclusive<u64> = auth::MIN_TOKEN_TTL_SECONDS..=DAY_SECONDS;
pub const REFRESH_TOKEN_TTL_SECONDS: RangeInclusive<u64> =
    auth::MIN_TOKEN_TTL_SECONDS..=YEAR_SECONDS;
/// A zone's request body limit: no plan allows less than 1 MiB or more than a single put.
pub const CHUNK_MAX_LENGTH: RangeInclusive<u64> = MIB..=crate::storage::MAX_SINGLE_PUT;
/// The local stand-in for a plan's body limit, in the same bounds.
pub const BODY_LIMIT_BYTES: RangeInclusive<u64> = CHUNK_MAX_LENGTH;
/// Smaller blobs stream from the worker and are edge-cached; the Cache API holds at most
/// 512 MB per object.
pub const REDIRECT_MIN_BYTES: RangeInclusive<u64> = 0..=512 * MIB;
pub const PRESIGN_EXPIRES_SECONDS: RangeInclusive<u64> = 1..=MAX_EXPIRES_SECONDS;
pub const TAG_CACHE_SECONDS: RangeInclusive<u64> = 0..=DAY_SECONDS;
pub const EDGE_CACHE_SECONDS: RangeInclusive<u64> = 0..=YEAR_SECONDS;
/// Once a second at most, for tests; an issuer's keys rarely change more than daily.
pub const OIDC_JWKS_MIN_REFRESH_SECONDS: RangeInclusive<u64> = 1..=DAY_SECONDS;
pub const GC_GRACE_SECONDS: RangeInclusive<u64> = 0..=YEAR_SECONDS;
pub const GC_STEP_OPERATIONS: RangeInclusive<u64> =
    maintenance::MIN_STEP_OPERATIONS as u64..=u32::MAX as u64;

/// Everything the platform configures the registry with.
#[derive(Debug)]
pub struct Settings {
    pub config: Config,
    pub auth: Auth,
    pub switches: Switches,
}

/// Settings of the platform's own, outside the registry.
#[derive(Debug, Clone, Copy)]
pub struct Switches {
    /// `GC_DRY_RUN`: scheduled maintenance reports and deletes nothing.
    pub maintenance_dry_run: bool,
    /// `LOG_STORAGE_OPS`: log each request's billed storage operations.
    pub log_storage_ops: bool,
}

impl Settings {
    /// Reads every setting through `var` (`None` for an unset one).
    pub fn parse(var: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let vars = Vars(&var);
        let mut config = Config::default();
        if let Some(mib) = vars.number("UPLOAD_PART_MIB", PART_MIB)? {
            config.part_size = mib * MIB;
        }
        vars.set(
            &mut config.upload_ttl_seconds,
            "UPLOAD_TTL_SECONDS",
            UPLOAD_TTL_SECONDS,
        )?;
        config.chunk_max_length = vars.number("CHUNK_MAX_LENGTH", CHUNK_MAX_LENGTH)?;
        config.body_limit = vars.number("BODY_LIMIT_BYTES", BODY_LIMIT_BYTES)?;
        if let (Some(chunk), Some(limit)) = (config.chunk_max_length, config.body_limit) {
            // Clients would send the chunks it advertises, and each would be refused.
            if chunk > limit {
                return Err(ConfigError::new(
                    "CHUNK_MAX_LENGTH",
                    format!("must not exceed BODY_LIMIT_BYTES ({limit})"),
                ));
            }
        }
        vars.set(
            &mut config.segment_parts,
            "UPLOAD_SEGMENT_PARTS",
            1..=MAX_SEGMENT_PARTS,
        )?;
        config.blob_urls = blob_urls(&vars)?;
        vars.set(
            &mut config.redirect_min_bytes,
            "REDIRECT_MIN_BYTES",
            REDIRECT_MIN_BYTES,
        )?;
        vars.set(
            &mut config.tag_cache_seconds,
            "TAG_CACHE_SECONDS",
            TAG_CACHE_SECONDS,
        )?;
        vars.set(
            &mut config.edge_cache_seconds,
            "EDGE_CACHE_SECONDS",
            EDGE_CACHE_SECONDS,
        )?;
        config.maintenance = maintenance_config(&vars)?;
        if let Some(text) = vars.text("IMMUTABLE_TAGS") {
            config.immutable_tags = ImmutableTags::parse(&text)
                .map_err(|why| ConfigError::new("IMMUTABLE_TAGS", why))?;
        }
        if let Some(text) = vars.text("WEBHOOKS") {
            config.webhooks = crate::webhooks::Webhooks::parse(&text)
                .map_err(|why| ConfigError::new("WEBHOOKS", why))?;
        }
        config.advisory_sources =
            super::advisories::advisory_sources(vars.text("ADVISORY_SOURCES").as_deref())?;
        Ok(Settings {
            config,
            auth: auth(&vars)?,
            switches: Switches {
                maintenance_dry_run: vars.switch("GC_DRY_RUN")?,
                log_storage_ops: vars.switch("LOG_STORAGE_OPS")?,
            },
        })
    }
}

struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    /// A set var's text; an empty or blank one counts as unset.
    fn text(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|text| !text.trim().is_empty())
    }

    fn number(
        &self,
        name: &'static str,
        range: RangeInclusive<u64>,
    ) -> Result<Option<u64>, ConfigError> {
        let Some(text) = self.text(name) else {
            return Ok(None);
        };
        match text.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(ConfigError::new(
                name,
                format!(
                    "must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    /// Overwrites `value` (its default) when the var is set.
    fn set(
        &self,
        value: &mut u64,
        name: &'static str,
        range: RangeInclusive<u64>,
    ) -> Result<(), ConfigError> {
        if let Some(n) = self.number(name, range)? {
            *value = n;
        }
        Ok(())
    }

    fn switch(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.text(name).as_deref().map(str::trim) {
            None | Some("0" | "false") => Ok(false),
            Some("1" | "true") => Ok(true),
            Some(_) => Err(ConfigError::new(
                name,
                "must be 1 (or true) or 0 (or false)",
            )),
        }
    }
}

/// Redirects of large pulls, from `BLOB_REDIRECT`: `presigned` (R2's S3 endpoint, the default
/// when R2 credentials are set), `local` (the worker signs and serves its own URLs), `off`.
fn blob_urls(vars: &Vars) -> Result<Option<BlobUrls>, ConfigError> {
    let needs = |name: &'static str, mode: &str| {
        ConfigError::new(name, format!("must be set for BLOB_REDIRECT={mode}"))
    };
    let access_key_id = vars.text("R2_ACCESS_KEY_ID");
    let default_mode = if access_key_id.is_some() {
        "presigned"
    } else {
        "off"
    };
    let mode = vars
        .text("BLOB_REDIRECT")
        .map_or(default_mode.to_string(), |m| m.trim().to_string());
    let public_base_url = vars
        .text("PUBLIC_BLOB_BASE_URL")
        .map(|url| public_base_url(url.trim()))
        .transpose()?;
    let (credentials, endpoint) =
        match mode.as_str() {
            "off" if public_base_url.is_some() => return Err(ConfigError::new(
                "PUBLIC_BLOB_BASE_URL",
                "needs BLOB_REDIRECT presigned or local: with redirects off nothing is sent there",
            )),
            "off" => return Ok(None),
            "presigned" => {
                let account = vars
                    .text("R2_ACCOUNT_ID")
                    .ok_or_else(|| needs("R2_ACCOUNT_ID", &mode))?;
                let account = host_part("R2_ACCOUNT_ID", account.trim())?;
                let credentials = Credentials {
                    access_key_id: access_key_id.ok_or_else(|| needs("R2_ACCESS_KEY_ID", &mode))?,
                    secret_access_key: vars
                        .text("R2_SECRET_ACCESS_KEY")
                        .ok_or_else(|| needs("R2_SECRET_ACCESS_KEY", &mode))?,
                };
                let host = match vars.text("R2_S3_HOST") {
                    Some(host) => host_part("R2_S3_HOST", host.trim())?,
                    None => format!("{account}.r2.cloudflarestorage.com"),
                };
                let bucket = match vars.text("R2_BUCKET_NAME") {
                    Some(bucket) => bucket_name(bucket.trim())?,
                    None => "edge-registry".into(),
                };
                (credentials, BlobEndpoint::R2 { host, bucket })
            }
            "local" => {
                let token_key = vars
                    .text("TOKEN_SIGNING_KEY")
                    .ok_or_else(|| needs("TOKEN_SIGNING_KEY", &mode))?;
                (Credentials::local(&token_key), BlobEndpoint::Worker)
            }
            _ => {
                return Err(ConfigError::new(
                    "BLOB_REDIRECT",
                    "must be presigned, local or off",
                ))
            }
        };
    let expires_seconds = vars
        .number("PRESIGN_EXPIRES_SECONDS", PRESIGN_EXPIRES_SECONDS)?
        .unwrap_or(DEFAULT_PRESIGN_EXPIRES_SECONDS);
    Ok(Some(BlobUrls {
        signer: Signer {
            credentials,
            region: "auto".into(),
        },
        endpoint,
        expires_seconds,
        public_base_url,
    }))
}

/// An `http(s)://host[/path]` base, without a trailing `/`, query or fragment.
fn public_base_url(url: &str) -> Result<String, ConfigError> {
    let invalid = || {
        ConfigError::new(
            "PUBLIC_BLOB_BASE_URL",
            "must be https://HOST[/PATH] (http:// for local tests), without query or fragment",
        )
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(invalid)?;
    let host = rest.split('/').next().unwrap_or_default();
    let clean = |c: char| c.is_ascii_graphic() && !"?#\"<>\\^`{|}".contains(c);
    if host.is_empty() || !url.chars().all(clean) {
        return Err(invalid());
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// A host name, or one label of it: letters, digits, `-` and `.` (and a `:port`).
fn host_part(name: &'static str, text: &str) -> Result<String, ConfigError> {
    let valid = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c));
    if valid {
        Ok(text.to_string())
    } else {
        Err(ConfigError::new(
            name,
            "must be a host name (letters, digits, '-' and '.')",
        ))
    }
}

/// R2's bucket names: 3 to 63 lowercase letters, digits and `-`.
fn bucket_name(text: &str) -> Result<String, ConfigError> {
    let valid = (3..=63).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(text.to_string())
    } else {
        Err(ConfigError::new(
            "R2_BUCKET_NAME",
            "must be 3 to 63 lowercase letters, digits and '-'",
        ))
    }
}

fn maintenance_config(vars: &Vars) -> Result<MaintenanceConfig, ConfigError> {
    let mut maintenance = MaintenanceConfig::default();
    vars.set(
        &mut maintenance.grace_seconds,
        "GC_GRACE_SECONDS",
        GC_GRACE_SECONDS,
    )?;
    if let Some(n) = vars.number("GC_STEP_OPERATIONS", GC_STEP_OPERATIONS)? {
        maintenance.step_operations = n as u32;
    }
    if let Some(text) = vars.text("RETENTION") {
        maintenance.retention = Retention::parse(&text).map_err(|why| {
            let why = why.strip_prefix("RETENTION ").unwrap_or(&why);
            ConfigError::new("RETENTION", format!("rule {why}"))
        })?;
    }
    Ok(maintenance)
}

/// Access control from vars and secrets. Errors name the setting, never a secret's value.
fn auth(vars: &Vars) -> Result<Auth, ConfigError> {
    let users = vars.text("REGISTRY_USERS").unwrap_or_default();
    let admin = vars.text("REGISTRY_ADMIN");
    let private = vars.text("REGISTRY_PRIVATE").unwrap_or_default();
    let private = policy::parse_patterns(&private)
        .map_err(|why| ConfigError::new("REGISTRY_PRIVATE", why))?;
    let users =
        policy::parse_users(&users).map_err(|why| ConfigError::new("REGISTRY_USERS", why))?;
    let policy = Policy::new(users, admin.as_deref(), private)
        .map_err(|why| ConfigError::new("REGISTRY_ADMIN", why))?;
    let config_why = |error: AuthError| match error {
        AuthError::Config(why) => why,
        other => format!("{other:?}"),
    };
    let signing_key = vars
        .text("TOKEN_SIGNING_KEY")
        .map(|key| SigningKey::new(&key))
        .transpose()
        .map_err(|e| ConfigError::new("TOKEN_SIGNING_KEY", config_why(e)))?;
    Ok(Auth {
        policy,
        signing_key,
        token_ttl_seconds: vars
            .number("TOKEN_TTL_SECONDS", TOKEN_TTL_SECONDS)?
            .unwrap_or(auth::DEFAULT_TOKEN_TTL_SECONDS),
        refresh_ttl_seconds: vars
            .number("REFRESH_TOKEN_TTL_SECONDS", REFRESH_TOKEN_TTL_SECONDS)?
            .unwrap_or(auth::DEFAULT_REFRESH_TTL_SECONDS),
        oidc: oidc(vars)?,
    })
}

/// Keyless push: `OIDC_TRUST` (rules), `OIDC_AUDIENCE`, `OIDC_JWKS_MIN_REFRESH_SECONDS`.
fn oidc(vars: &Vars) -> Result<OidcSettings, ConfigError> {
    let trust = vars
        .text("OIDC_TRUST")
        .map(|text| Trust::parse(&text))
        .transpose()
        .map_err(|why| ConfigError::new("OIDC_TRUST", why))?
        .unwrap_or_default();
    let audience = vars.text("OIDC_AUDIENCE").map(|a| a.trim().to_string());
    if let Some(audience) = &audience {
        if audience.chars().any(char::is_whitespace) {
            return Err(ConfigError::new("OIDC_AUDIENCE", "must be one word"));
        }
    }
    let min_refresh_seconds = vars
        .number(
            "OIDC_JWKS_MIN_REFRESH_SECONDS",
            OIDC_JWKS_MIN_REFRESH_SECONDS,
        )?
        .unwrap_or(auth::oidc::verify::DEFAULT_MIN_REFRESH_SECONDS);
    Ok(OidcSettings {
        trust,
        audience,
        min_refresh_seconds,
    })
}

#[cfg(test)]
mod tests;
