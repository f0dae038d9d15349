//! The deployment's settings, from the worker's vars and secrets as text: every one parsed and
//! checked here, so that a wrong value stops the registry with an error that names the
//! setting instead of being read as something else. The platform hands over the text
//! ([`Settings::parse`] takes a lookup function) and refuses every request while a setting is
//! invalid: a registry that misreads its configuration must not run at all, least of all
//! more public than configured.

use std::ops::RangeInclusive;

use super::{BlobEndpoint, BlobUrls, Config, DEFAULT_PRESIGN_EXPIRES_SECONDS};
use crate::auth::{self, policy, Auth, AuthError, Policy, SigningKey};
use crate::error::Error;
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
/// Smaller blobs stream from the worker and are edge-cached; the Cache API holds at most
/// 512 MB per object.
pub const REDIRECT_MIN_BYTES: RangeInclusive<u64> = 0..=512 * MIB;
pub const PRESIGN_EXPIRES_SECONDS: RangeInclusive<u64> = 1..=MAX_EXPIRES_SECONDS;
pub const TAG_CACHE_SECONDS: RangeInclusive<u64> = 0..=DAY_SECONDS;
pub const EDGE_CACHE_SECONDS: RangeInclusive<u64> = 0..=YEAR_SECONDS;
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
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::auth::Actions;

    const KEY: &str = "a-signing-key-of-at-least-32-bytes!!";

    fn parse(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::parse(|name| vars.get(name).cloned())
    }

    fn refused(vars: &[(&str, &str)]) -> &'static str {
        match parse(vars) {
            Ok(_) => panic!("{vars:?} accepted"),
            Err(error) => error.setting,
        }
    }

    #[test]
    fn unset_settings_take_their_defaults() {
        let settings = parse(&[]).unwrap();
        let defaults = Config::default();
        assert_eq!(settings.config.part_size, defaults.part_size);
        assert_eq!(
            settings.config.upload_ttl_seconds,
            defaults.upload_ttl_seconds
        );
        assert!(settings.config.blob_urls.is_none());
        assert!(!settings.switches.maintenance_dry_run);
        assert!(!settings.switches.log_storage_ops);
        assert_eq!(
            settings.auth.token_ttl_seconds,
            auth::DEFAULT_TOKEN_TTL_SECONDS
        );
        // A blank var is an unset one.
        assert!(parse(&[("UPLOAD_PART_MIB", " ")]).is_ok());
    }

    /// Every numeric setting: the ends of its range are taken, one past either end is
    /// refused, as is anything that is not a whole number, each error naming the setting.
    #[test]
    fn numbers_must_be_whole_and_within_their_range() {
        let ranges = [
            ("UPLOAD_PART_MIB", PART_MIB),
            ("UPLOAD_TTL_SECONDS", UPLOAD_TTL_SECONDS),
            ("UPLOAD_SEGMENT_PARTS", 1..=MAX_SEGMENT_PARTS),
            ("CHUNK_MAX_LENGTH", CHUNK_MAX_LENGTH),
            ("REDIRECT_MIN_BYTES", REDIRECT_MIN_BYTES),
            ("TAG_CACHE_SECONDS", TAG_CACHE_SECONDS),
            ("EDGE_CACHE_SECONDS", EDGE_CACHE_SECONDS),
            ("GC_GRACE_SECONDS", GC_GRACE_SECONDS),
            ("GC_STEP_OPERATIONS", GC_STEP_OPERATIONS),
            ("TOKEN_TTL_SECONDS", TOKEN_TTL_SECONDS),
            ("REFRESH_TOKEN_TTL_SECONDS", REFRESH_TOKEN_TTL_SECONDS),
            ("PRESIGN_EXPIRES_SECONDS", PRESIGN_EXPIRES_SECONDS),
        ];
        for (name, range) in ranges {
            // Presigned URLs are only made with redirects on.
            let with = |value: &str| {
                let vars = [
                    (name, value),
                    ("BLOB_REDIRECT", "local"),
                    ("TOKEN_SIGNING_KEY", KEY),
                ];
                parse(&vars).map(|_| ())
            };
            for ok in [*range.start(), *range.end()] {
                assert_eq!(with(&ok.to_string()), Ok(()), "{name}={ok}");
            }
            let mut bad = vec![range.end().saturating_add(1).to_string(), "x".into()];
            bad.extend(["-1", "1.5", "5 MiB", "", "99999999999999999999999"].map(String::from));
            if *range.start() > 0 {
                bad.push((range.start() - 1).to_string());
            }
            if *range.end() == u64::MAX {
                bad.remove(0);
            }
            for value in bad.iter().filter(|v| !v.is_empty()) {
                let error = with(value).unwrap_err();
                assert_eq!(error.setting, name, "{name}={value}");
                assert!(error.why.contains("whole number"), "{error}");
            }
        }
    }

    #[test]
    fn numbers_reach_the_configuration() {
        let settings = parse(&[
            ("UPLOAD_PART_MIB", "5"),
            ("UPLOAD_TTL_SECONDS", "3"),
            ("GC_STEP_OPERATIONS", "40"),
            ("CHUNK_MAX_LENGTH", "100000000"),
            ("TOKEN_TTL_SECONDS", " 600 "),
        ])
        .unwrap();
        assert_eq!(settings.config.part_size, 5 * MIB);
        assert_eq!(settings.config.upload_ttl_seconds, 3);
        assert_eq!(settings.config.maintenance.step_operations, 40);
        assert_eq!(settings.config.chunk_max_length, Some(100_000_000));
        assert_eq!(settings.auth.token_ttl_seconds, 600);
    }

    /// The two reports: a zero part size (every PATCH failed with 500), and private
    /// patterns separated by tabs (every repository was public).
    #[test]
    fn a_zero_part_size_and_tab_separated_private_patterns() {
        let error = parse(&[("UPLOAD_PART_MIB", "0")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "UPLOAD_PART_MIB must be a whole number from 5 to 32"
        );
        let settings =
            parse(&[("REGISTRY_PRIVATE", "internal/*\tacme/secret-*\n  other")]).unwrap();
        for private in ["internal/tool", "acme/secret-x", "other"] {
            assert_eq!(settings.auth.policy.allowed(None, private), Actions::NONE);
        }
        assert_eq!(
            settings.auth.policy.allowed(None, "acme/app"),
            Actions::PULL
        );
        assert_eq!(
            refused(&[("REGISTRY_PRIVATE", "internal/*;acme/*")]),
            "REGISTRY_PRIVATE"
        );
        assert_eq!(
            refused(&[("REGISTRY_PRIVATE", "Internal/*")]),
            "REGISTRY_PRIVATE"
        );
        // Private names are not told to whoever gets the answer.
        let error = parse(&[("REGISTRY_PRIVATE", "Acme/secret-launch")]).unwrap_err();
        let message = Error::from(error).message();
        assert!(!message.contains("secret-launch"), "{message}");
        assert!(message.contains("REGISTRY_PRIVATE"), "{message}");
    }

    #[test]
    fn access_errors_name_their_setting_and_keep_secrets_out_of_answers() {
        let hash = "ab".repeat(32);
        let users = format!("alice {hash} alice/*=pull; alice {hash}");
        let error = parse(&[("REGISTRY_USERS", &users)]).unwrap_err();
        assert_eq!(error.setting, "REGISTRY_USERS");
        assert!(error.is_secret());
        let message = Error::from(error).message();
        assert!(
            !message.contains("alice") && !message.contains(&hash),
            "{message}"
        );
        let pasted = parse(&[("REGISTRY_ADMIN", &format!("admin:hunter2 {hash}"))]).unwrap_err();
        assert!(!pasted.to_string().contains("hunter2"), "{pasted}");
        assert!(message.contains("REGISTRY_USERS"), "{message}");
        assert_eq!(refused(&[("REGISTRY_USERS", "bob 1234")]), "REGISTRY_USERS");
        assert_eq!(refused(&[("REGISTRY_ADMIN", "root")]), "REGISTRY_ADMIN");
        let admin = format!("alice {hash}");
        let users = format!("alice {hash} alice/*=pull");
        assert_eq!(
            refused(&[("REGISTRY_USERS", &users), ("REGISTRY_ADMIN", &admin)]),
            "REGISTRY_ADMIN"
        );
        assert_eq!(
            refused(&[("TOKEN_SIGNING_KEY", "short")]),
            "TOKEN_SIGNING_KEY"
        );
        assert_eq!(refused(&[("RETENTION", "acme/* keep=many")]), "RETENTION");
        assert_eq!(refused(&[("RETENTION", "Acme/* keep=2")]), "RETENTION");
        // Not secret: the answer says what is wrong.
        let message = Error::from(parse(&[("UPLOAD_PART_MIB", "0")]).unwrap_err()).message();
        assert_eq!(
            message,
            "registry misconfigured: UPLOAD_PART_MIB must be a whole number from 5 to 32"
        );
    }

    #[test]
    fn redirect_modes_need_what_they_use() {
        assert_eq!(refused(&[("BLOB_REDIRECT", "sometimes")]), "BLOB_REDIRECT");
        assert_eq!(refused(&[("BLOB_REDIRECT", "local")]), "TOKEN_SIGNING_KEY");
        assert_eq!(refused(&[("BLOB_REDIRECT", "presigned")]), "R2_ACCOUNT_ID");
        let presigned = [
            ("R2_ACCOUNT_ID", "0123abcd"),
            ("R2_ACCESS_KEY_ID", "id"),
            ("R2_SECRET_ACCESS_KEY", "secret"),
        ];
        let settings = parse(&presigned).unwrap();
        let urls = settings
            .config
            .blob_urls
            .expect("presigned by default with credentials");
        assert!(matches!(
            urls.endpoint,
            BlobEndpoint::R2 { ref host, ref bucket }
                if host == "0123abcd.r2.cloudflarestorage.com" && bucket == "edge-registry"
        ));
        let with = |extra: (&'static str, &'static str)| {
            let mut vars = presigned.to_vec();
            vars.push(extra);
            parse(&vars)
        };
        assert_eq!(
            with(("R2_BUCKET_NAME", "My_Bucket")).unwrap_err().setting,
            "R2_BUCKET_NAME"
        );
        assert_eq!(
            with(("R2_S3_HOST", "a/b")).unwrap_err().setting,
            "R2_S3_HOST"
        );
        for bad in [
            "blobs.example.com",
            "https://",
            "https://x/?a=b",
            "https://x y",
        ] {
            let error = with(("PUBLIC_BLOB_BASE_URL", bad)).unwrap_err();
            assert_eq!(error.setting, "PUBLIC_BLOB_BASE_URL", "{bad}");
        }
        let urls = with(("PUBLIC_BLOB_BASE_URL", "https://blobs.example.com/"))
            .unwrap()
            .config
            .blob_urls
            .unwrap();
        assert_eq!(
            urls.public_base_url.as_deref(),
            Some("https://blobs.example.com")
        );
        assert_eq!(
            refused(&[("PUBLIC_BLOB_BASE_URL", "https://blobs.example.com")]),
            "PUBLIC_BLOB_BASE_URL"
        );
    }

    #[test]
    fn switches_are_on_or_off() {
        let settings = parse(&[("GC_DRY_RUN", "1"), ("LOG_STORAGE_OPS", "true")]).unwrap();
        assert!(settings.switches.maintenance_dry_run && settings.switches.log_storage_ops);
        assert!(
            !parse(&[("GC_DRY_RUN", "0")])
                .unwrap()
                .switches
                .maintenance_dry_run
        );
        assert_eq!(refused(&[("GC_DRY_RUN", "yes")]), "GC_DRY_RUN");
        assert_eq!(refused(&[("LOG_STORAGE_OPS", "on")]), "LOG_STORAGE_OPS");
    }
}
