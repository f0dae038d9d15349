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
        ("BODY_LIMIT_BYTES", BODY_LIMIT_BYTES),
        ("REDIRECT_MIN_BYTES", REDIRECT_MIN_BYTES),
        ("TAG_CACHE_SECONDS", TAG_CACHE_SECONDS),
        ("EDGE_CACHE_SECONDS", EDGE_CACHE_SECONDS),
        ("GC_GRACE_SECONDS", GC_GRACE_SECONDS),
        ("GC_STEP_OPERATIONS", GC_STEP_OPERATIONS),
        ("TOKEN_TTL_SECONDS", TOKEN_TTL_SECONDS),
        ("REFRESH_TOKEN_TTL_SECONDS", REFRESH_TOKEN_TTL_SECONDS),
        ("PRESIGN_EXPIRES_SECONDS", PRESIGN_EXPIRES_SECONDS),
        (
            "OIDC_JWKS_MIN_REFRESH_SECONDS",
            OIDC_JWKS_MIN_REFRESH_SECONDS,
        ),
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
    assert_eq!(settings.config.body_limit, None);
}

#[test]
fn the_body_limit_reaches_the_configuration_and_bounds_the_advertised_chunks() {
    let limited = parse(&[("BODY_LIMIT_BYTES", "8388608")]).unwrap();
    assert_eq!(limited.config.body_limit, Some(8 * MIB));
    assert_eq!(limited.config.chunk_max_length, None);
    let both = parse(&[
        ("BODY_LIMIT_BYTES", "8388608"),
        ("CHUNK_MAX_LENGTH", "8388608"),
    ])
    .unwrap();
    assert_eq!(both.config.chunk_max_length, Some(8 * MIB));
    // Chunks larger than the limit would each be refused.
    let error = parse(&[
        ("BODY_LIMIT_BYTES", "8388608"),
        ("CHUNK_MAX_LENGTH", "8388609"),
    ])
    .unwrap_err();
    assert_eq!(error.setting, "CHUNK_MAX_LENGTH");
    assert!(error.why.contains("BODY_LIMIT_BYTES"), "{error}");
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
    let settings = parse(&[("REGISTRY_PRIVATE", "internal/*\tacme/secret-*\n  other")]).unwrap();
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
    assert_eq!(
        refused(&[("RETENTION", "acme/* protect=v1/2")]),
        "RETENTION"
    );
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

#[test]
fn immutable_tags_reach_the_configuration_and_bad_rules_stop_the_registry() {
    let settings = parse(&[("IMMUTABLE_TAGS", "acme/*=semver,v*\nteam/app=stable")]).unwrap();
    let rules = &settings.config.immutable_tags;
    assert_eq!(
        rules.rule_for("acme/app", "1.0.0"),
        Some("acme/*=semver,v*")
    );
    assert!(rules.is_immutable("team/app", "stable"));
    assert!(!rules.is_immutable("team/app", "latest"));
    assert!(!parse(&[])
        .unwrap()
        .config
        .immutable_tags
        .applies_to("acme/app"));
    for bad in ["acme/*", "acme/*=", "Acme/*=semver", "acme/*=v 1"] {
        let error = parse(&[("IMMUTABLE_TAGS", bad)]).unwrap_err();
        assert_eq!(error.setting, "IMMUTABLE_TAGS", "{bad}");
        // Not a secret: the answer names the rule.
        let message = Error::from(error).message();
        assert!(message.contains("IMMUTABLE_TAGS rule"), "{message}");
    }
}

#[test]
fn oidc_trust_is_checked_with_the_other_settings() {
    let settings = parse(&[]).unwrap();
    assert!(settings.auth.oidc.trust.is_empty());
    assert_eq!(settings.auth.oidc.audience, None);
    assert_eq!(settings.auth.oidc.min_refresh_seconds, 60);
    let rules =
        "https://token.actions.githubusercontent.com repository_id=1 => acme/app=pull,push;\n\
                 http://127.0.0.1:4321 sub=test => test/*=push";
    let settings = parse(&[
        ("OIDC_TRUST", rules),
        ("OIDC_AUDIENCE", " registry.example.com "),
        ("OIDC_JWKS_MIN_REFRESH_SECONDS", "1"),
    ])
    .unwrap();
    assert!(settings
        .auth
        .oidc
        .trust
        .trusts("https://token.actions.githubusercontent.com"));
    assert!(settings.auth.oidc.trust.trusts("http://127.0.0.1:4321"));
    assert_eq!(
        settings.auth.oidc.audience.as_deref(),
        Some("registry.example.com")
    );
    assert_eq!(settings.auth.oidc.min_refresh_seconds, 1);
    for bad in [
        "http://issuer.example.com sub=x => a/b=pull",
        "https://token.actions.githubusercontent.com => acme/*=push",
        "https://token.actions.githubusercontent.com repository=a/b acme/*=push",
        "https://token.actions.githubusercontent.com repository=a/b => acme/*=fly",
    ] {
        assert_eq!(refused(&[("OIDC_TRUST", bad)]), "OIDC_TRUST", "{bad}");
    }
    let error =
        parse(&[("OIDC_TRUST", "http://issuer.example.com sub=x => a/b=pull")]).unwrap_err();
    assert!(!error.is_secret());
    assert!(
        error.to_string().starts_with("OIDC_TRUST rule 1: issuer"),
        "{error}"
    );
    assert_eq!(refused(&[("OIDC_AUDIENCE", "a b")]), "OIDC_AUDIENCE");
}

#[test]
fn webhooks_reach_the_configuration_and_their_errors_and_debug_hide_the_secret() {
    let encoded = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let settings = parse(&[(
        "WEBHOOKS",
        &format!("https://hooks.example/in secret=whsec_{encoded} events=push"),
    )])
    .unwrap();
    assert!(settings
        .config
        .webhooks
        .wants(crate::webhooks::EventKind::Push, "any/repo"));
    let debug = format!("{settings:?}");
    assert!(debug.contains("hooks.example"), "{debug}");
    assert!(!debug.contains(encoded) && !debug.contains("0123456789abcdef"));
    for bad in [
        format!("http://hooks.example/ secret=whsec_{encoded}"),
        format!("https://hooks.example/ secert=whsec_{encoded}"),
        format!("https://hooks.example/ whsec_{encoded}"),
        "https://hooks.example/ secret=whsec_0123456789abcdef0123456789abcdef!".to_string(),
    ] {
        let error = parse(&[("WEBHOOKS", bad.as_str())]).unwrap_err();
        assert_eq!(error.setting, "WEBHOOKS", "{bad}");
        assert!(error.is_secret());
        let shown = format!("{error} {error:?} {}", Error::from(error.clone()).message());
        assert!(!shown.contains(encoded), "{shown}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }
}
