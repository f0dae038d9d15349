//! The wire error: what a client sees when a request fails.
//!
//! Each layer has its own error type ([`OciError`], [`StorageError`], [`BodyReadError`],
//! [`UploadError`], [`AuthError`], [`PresignError`]); each converts into [`Error`] here with
//! `From` (the settings' `ConfigError` converts in `config`, which sits above this module), and
//! one table, [`Error`]'s `row`, gives every error its OCI code, HTTP status and message.

use std::fmt;

use http::StatusCode;

use crate::auth::AuthError;
use crate::oci::{Digest, OciError};
use crate::presign::PresignError;
use crate::storage::body::BodyReadError;
use crate::storage::StorageError;
use crate::upload::UploadError;

/// R2 and KV take about one write per second to a key: a second later it takes writes again.
pub const RETRY_AFTER_SECONDS: u64 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    BlobUnknown(Digest),
    BlobUploadUnknown,
    BlobUploadInvalid(String),
    /// A chunk that does not start where the upload stands.
    RangeInvalid(String),
    /// A `Range` that a blob of `size` bytes cannot serve.
    RangeNotSatisfiable {
        range: String,
        size: u64,
    },
    DigestInvalid(String),
    ManifestBlobUnknown(Digest),
    ManifestInvalid(String),
    ManifestUnknown,
    ManifestTooLarge {
        limit: usize,
    },
    /// A request body over the deployment's body limit (`BODY_LIMIT_BYTES`, the local stand-in
    /// for the Cloudflare plan's).
    BodyTooLarge {
        limit: u64,
    },
    NameInvalid(String),
    NameUnknown(String),
    TagInvalid(String),
    /// More `?tag=` parameters than one push applies.
    TooManyTags {
        limit: usize,
    },
    Unsupported(String),
    RouteUnknown,
    MethodNotAllowed,
    TooManyRequests,
    /// No usable credentials; `challenge` is the `WWW-Authenticate` value that says how to
    /// get some (see [`Error::with_challenge`]).
    Unauthorized {
        why: String,
        challenge: Option<String>,
    },
    /// The caller is known and not allowed to do this.
    Denied(String),
    /// A push that would move, or a delete that would remove, a tag an `IMMUTABLE_TAGS` rule
    /// (`rule`, as configured) makes immutable; `why` says what was refused.
    ImmutableTag {
        tag: String,
        rule: String,
        why: String,
    },
    /// A failure of ours, not the client's; the detail is logged, never sent.
    Internal(String),
    /// A setting the registry cannot run with: every request is refused until it is fixed.
    /// The reasons a secret is refused are told only to the log.
    Misconfigured {
        setting: &'static str,
        why: String,
        secret: bool,
    },
}

/// One row of the error table: what a client is told.
struct Row {
    code: &'static str,
    status: StatusCode,
    message: String,
}

fn row(code: &'static str, status: StatusCode, message: impl Into<String>) -> Row {
    Row {
        code,
        status,
        message: message.into(),
    }
}

impl Error {
    /// The error table: every error's OCI code (from the distribution spec's list), HTTP
    /// status and message, side by side, with no catch-all.
    fn row(&self) -> Row {
        match self {
            Error::BlobUnknown(_) => row(
                "BLOB_UNKNOWN",
                StatusCode::NOT_FOUND,
                "blob unknown to registry",
            ),
            Error::BlobUploadUnknown => row(
                "BLOB_UPLOAD_UNKNOWN",
                StatusCode::NOT_FOUND,
                "blob upload unknown to registry",
            ),
            Error::BlobUploadInvalid(why) => row(
                "BLOB_UPLOAD_INVALID",
                StatusCode::BAD_REQUEST,
                format!("blob upload invalid: {why}"),
            ),
            Error::RangeInvalid(why) => row(
                "BLOB_UPLOAD_INVALID",
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("range invalid: {why}"),
            ),
            // The spec names no code for an unsatisfiable read range; it is a size mismatch.
            Error::RangeNotSatisfiable { range, size } => row(
                "SIZE_INVALID",
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("range {range:?} cannot be served from a blob of {size} bytes"),
            ),
            Error::DigestInvalid(why) => row(
                "DIGEST_INVALID",
                StatusCode::BAD_REQUEST,
                format!("provided digest did not match uploaded content: {why}"),
            ),
            Error::ManifestBlobUnknown(_) => row(
                "MANIFEST_BLOB_UNKNOWN",
                StatusCode::BAD_REQUEST,
                "manifest references a blob or manifest unknown to this repository",
            ),
            Error::ManifestInvalid(why) => row(
                "MANIFEST_INVALID",
                StatusCode::BAD_REQUEST,
                format!("manifest invalid: {why}"),
            ),
            Error::ManifestUnknown => row(
                "MANIFEST_UNKNOWN",
                StatusCode::NOT_FOUND,
                "manifest unknown",
            ),
            Error::ManifestTooLarge { limit } => row(
                "SIZE_INVALID",
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("manifest larger than {limit} bytes"),
            ),
            // Said so that whoever hits it knows both the limit and the way around it.
            Error::BodyTooLarge { limit } => row(
                "SIZE_INVALID",
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body larger than this registry's body limit of {limit} bytes; \
                     push large layers in chunks, with a client that honours \
                     OCI-Chunk-Max-Length (regclient) or with `edge-registry push` \
                     (see the README, \"Body limits\")"
                ),
            ),
            Error::NameInvalid(why) => row(
                "NAME_INVALID",
                StatusCode::BAD_REQUEST,
                format!("invalid repository name: {why}"),
            ),
            Error::NameUnknown(name) => row(
                "NAME_UNKNOWN",
                StatusCode::NOT_FOUND,
                format!("repository name not known to registry: {name}"),
            ),
            // The spec has no tag code; a bad tag makes the manifest reference invalid.
            Error::TagInvalid(why) => row(
                "MANIFEST_INVALID",
                StatusCode::BAD_REQUEST,
                format!("invalid tag: {why}"),
            ),
            // The spec's answer to too many tags in one push: 414 Request-URI Too Long.
            Error::TooManyTags { limit } => row(
                "UNSUPPORTED",
                StatusCode::URI_TOO_LONG,
                format!("at most {limit} tags per push"),
            ),
            Error::Unsupported(why) => row(
                "UNSUPPORTED",
                StatusCode::BAD_REQUEST,
                format!("unsupported: {why}"),
            ),
            Error::RouteUnknown => row("UNSUPPORTED", StatusCode::NOT_FOUND, "no such endpoint"),
            Error::MethodNotAllowed => row(
                "UNSUPPORTED",
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint",
            ),
            Error::TooManyRequests => row(
                "TOOMANYREQUESTS",
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests; retry later",
            ),
            Error::Unauthorized { why, .. } => row(
                "UNAUTHORIZED",
                StatusCode::UNAUTHORIZED,
                format!("authentication required: {why}"),
            ),
            Error::Denied(why) => row(
                "DENIED",
                StatusCode::FORBIDDEN,
                format!("requested access to the resource is denied: {why}"),
            ),
            Error::ImmutableTag { tag, rule, why } => row(
                "DENIED",
                StatusCode::FORBIDDEN,
                format!("tag {tag:?} is immutable (IMMUTABLE_TAGS rule {rule:?}): {why}"),
            ),
            Error::Internal(_) => row(
                "UNKNOWN",
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; the registry logged the details",
            ),
            // Whoever sees this can tell the operator which setting to fix.
            Error::Misconfigured {
                setting,
                secret: true,
                ..
            } => row(
                "UNKNOWN",
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("registry misconfigured: {setting} is invalid; the registry logged why"),
            ),
            Error::Misconfigured { setting, why, .. } => row(
                "UNKNOWN",
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("registry misconfigured: {setting} {why}"),
            ),
        }
    }

    /// The OCI error code.
    pub fn code(&self) -> &'static str {
        self.row().code
    }

    pub fn status(&self) -> StatusCode {
        self.row().status
    }

    /// What the client is told; never the detail of an internal failure or a secret.
    pub fn message(&self) -> String {
        self.row().message
    }

    /// Structured detail for the error body, where a client can act on it.
    pub fn detail(&self) -> serde_json::Value {
        match self {
            Error::BlobUnknown(digest) | Error::ManifestBlobUnknown(digest) => {
                serde_json::json!({ "digest": digest.to_string() })
            }
            Error::BodyTooLarge { limit } => serde_json::json!({ "limit": limit }),
            _ => serde_json::Value::Null,
        }
    }

    /// Headers the error response carries besides its body.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Error::RangeNotSatisfiable { size, .. } => {
                vec![("Content-Range", format!("bytes */{size}"))]
            }
            Error::Unauthorized {
                challenge: Some(challenge),
                ..
            } => vec![("WWW-Authenticate", challenge.clone())],
            Error::TooManyRequests => vec![("Retry-After", RETRY_AFTER_SECONDS.to_string())],
            _ => Vec::new(),
        }
    }

    /// `{"errors":[{"code","message","detail"}]}`, as the distribution spec defines it.
    pub fn body(&self) -> Vec<u8> {
        let Row { code, message, .. } = self.row();
        let body = serde_json::json!({
            "errors": [{ "code": code, "message": message, "detail": self.detail() }]
        });
        body.to_string().into_bytes()
    }

    /// A 401 tells the client where to get credentials: only the layer that knows the realm
    /// can say, so it adds the challenge to the error an [`AuthError`] became.
    pub fn with_challenge(mut self, realm_challenge: String) -> Self {
        if let Error::Unauthorized { challenge, .. } = &mut self {
            *challenge = Some(realm_challenge);
        }
        self
    }
}

/// For the log: the client's message, and what it is not told (an internal failure's detail,
/// why a secret setting is refused).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Internal(detail) => write!(f, "internal error: {detail}"),
            Error::Misconfigured { setting, why, .. } => {
                write!(f, "registry misconfigured: {setting} {why}")
            }
            error => {
                let Row {
                    code,
                    status,
                    message,
                } = error.row();
                write!(f, "{} {code}: {message}", status.as_u16())
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<OciError> for Error {
    fn from(err: OciError) -> Self {
        match err {
            OciError::InvalidName(why) => Error::NameInvalid(why),
            OciError::InvalidTag(why) => Error::TagInvalid(why),
            OciError::InvalidDigest(why) => Error::DigestInvalid(why),
            OciError::UnsupportedAlgorithm(alg) => {
                Error::DigestInvalid(format!("unsupported digest algorithm {alg:?}"))
            }
            OciError::InvalidManifest(why) => Error::ManifestInvalid(why),
        }
    }
}

impl From<AuthError> for Error {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::BadCredentials(why) | AuthError::InvalidToken(why) => Error::Unauthorized {
                why,
                challenge: None,
            },
            AuthError::InvalidScope(why) => Error::Unsupported(why),
            AuthError::Config(why) => Error::Internal(format!("access configuration: {why}")),
        }
    }
}

impl From<PresignError> for Error {
    fn from(err: PresignError) -> Self {
        Error::Denied(format!("signed URL refused: {err}"))
    }
}

impl From<BodyReadError> for Error {
    fn from(err: BodyReadError) -> Self {
        match err {
            BodyReadError::OverLimit { limit } => Error::BodyTooLarge { limit },
            failed @ BodyReadError::Failed(_) => Error::BlobUploadInvalid(failed.to_string()),
        }
    }
}

impl From<StorageError> for Error {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::TooManyRequests => Error::TooManyRequests,
            StorageError::Backend(why) => Error::Internal(why),
            StorageError::Corrupt(why) => Error::Internal(format!("corrupt record: {why}")),
        }
    }
}

impl From<UploadError> for Error {
    fn from(err: UploadError) -> Self {
        match err {
            UploadError::Read(err) => err.into(),
            UploadError::Storage(err) => err.into(),
            UploadError::TooLarge { limit } => Error::ManifestTooLarge { limit },
            mismatch @ (UploadError::DigestMismatch { .. }
            | UploadError::ContentMismatch { .. }) => Error::DigestInvalid(mismatch.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes of the distribution spec's error table.
    const SPEC_CODES: &[&str] = &[
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
        "UNKNOWN",
    ];

    fn every_error() -> Vec<Error> {
        let digest: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        vec![
            Error::BlobUnknown(digest.clone()),
            Error::BlobUploadUnknown,
            Error::BlobUploadInvalid("why".into()),
            Error::RangeInvalid("why".into()),
            Error::RangeNotSatisfiable {
                range: "bytes=9-".into(),
                size: 3,
            },
            Error::DigestInvalid("why".into()),
            Error::ManifestBlobUnknown(digest),
            Error::ManifestInvalid("why".into()),
            Error::ManifestUnknown,
            Error::ManifestTooLarge { limit: 4 },
            Error::NameInvalid("why".into()),
            Error::NameUnknown("name".into()),
            Error::TagInvalid("why".into()),
            Error::TooManyTags { limit: 10 },
            Error::Unsupported("why".into()),
            Error::RouteUnknown,
            Error::MethodNotAllowed,
            Error::TooManyRequests,
            Error::Unauthorized {
                why: "why".into(),
                challenge: None,
            },
            Error::Denied("why".into()),
            Error::ImmutableTag {
                tag: "v1".into(),
                rule: "a/*=v*".into(),
                why: "why".into(),
            },
            Error::Internal("the detail".into()),
            Error::Misconfigured {
                setting: "REGISTRY_USERS",
                why: "the reason".into(),
                secret: true,
            },
        ]
    }

    #[test]
    fn every_error_has_a_spec_code_an_error_status_and_an_oci_body() {
        for error in every_error() {
            assert!(SPEC_CODES.contains(&error.code()), "{error:?}");
            assert!(error.status().is_client_error() || error.status().is_server_error());
            let body: serde_json::Value = serde_json::from_slice(&error.body()).unwrap();
            let entries = body["errors"].as_array().unwrap();
            assert_eq!(entries.len(), 1, "{error:?}");
            assert_eq!(entries[0]["code"], error.code());
            assert_eq!(entries[0]["message"], error.message());
            assert!(entries[0].as_object().unwrap().contains_key("detail"));
        }
    }

    #[test]
    fn internal_details_reach_the_log_never_the_client() {
        for error in [
            Error::Internal("bucket binding lost".into()),
            Error::Misconfigured {
                setting: "REGISTRY_USERS",
                why: "line 3 has no password".into(),
                secret: true,
            },
        ] {
            let body = String::from_utf8(error.body()).unwrap();
            assert!(
                !body.contains("bucket binding lost") && !body.contains("line 3 has no password"),
                "{body}"
            );
            let logged = error.to_string();
            assert!(
                logged.contains("bucket binding lost") || logged.contains("line 3 has no password"),
                "{logged}"
            );
        }
    }

    #[test]
    fn layer_errors_convert_with_their_meaning() {
        let unauthorized = Error::from(AuthError::InvalidToken("expired".into()));
        assert_eq!(unauthorized.status(), 401);
        assert!(unauthorized.headers().is_empty(), "no realm, no challenge");
        let challenged = unauthorized.with_challenge("Bearer realm=\"r\"".into());
        assert_eq!(
            challenged.headers(),
            vec![("WWW-Authenticate", "Bearer realm=\"r\"".to_string())]
        );
        assert_eq!(
            Error::from(AuthError::InvalidScope("x".into())).code(),
            "UNSUPPORTED"
        );
        let refused = Error::from(PresignError::Expired);
        assert_eq!(
            (refused.status(), refused.code()),
            (StatusCode::FORBIDDEN, "DENIED")
        );
        assert!(refused.message().ends_with("signed URL refused: expired"));
        assert_eq!(Error::from(StorageError::TooManyRequests).status(), 429);
        assert_eq!(Error::from(StorageError::Corrupt("k".into())).status(), 500);
        let unread = Error::from(BodyReadError::Failed("reset".into()));
        assert_eq!(unread.code(), "BLOB_UPLOAD_INVALID");
        assert!(unread.message().contains("reset"));
        let over = Error::from(BodyReadError::OverLimit { limit: 8 });
        assert_eq!(
            (over.status(), over.code()),
            (StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID")
        );
        assert_eq!(over.detail(), serde_json::json!({ "limit": 8 }));
        assert_eq!(
            Error::from(OciError::InvalidTag("t".into())).code(),
            "MANIFEST_INVALID"
        );
    }
}
