//! The wire error: what a client sees when a request fails.
//!
//! Each layer has its own error type ([`OciError`], [`StorageError`], [`UploadError`],
//! [`AuthError`]); they convert into [`Error`] here, and [`Error::code`] / [`Error::status`]
//! are the one place that decides which OCI error code and HTTP status a failure gets.

use crate::auth::AuthError;
use crate::oci::{Digest, OciError};
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
    /// get some.
    Unauthorized {
        why: String,
        challenge: String,
    },
    /// The caller is known and not allowed to do this.
    Denied(String),
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

impl Error {
    /// The OCI error code, from the distribution spec's list.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BlobUnknown(_) => "BLOB_UNKNOWN",
            Error::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Error::BlobUploadInvalid(_) | Error::RangeInvalid(_) => "BLOB_UPLOAD_INVALID",
            Error::DigestInvalid(_) => "DIGEST_INVALID",
            Error::ManifestBlobUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
            // The spec has no tag code; a bad tag makes the manifest reference invalid.
            Error::ManifestInvalid(_) | Error::TagInvalid(_) => "MANIFEST_INVALID",
            Error::ManifestUnknown => "MANIFEST_UNKNOWN",
            // The spec names no code for an unsatisfiable read range; it is a size mismatch.
            Error::ManifestTooLarge { .. } | Error::RangeNotSatisfiable { .. } => "SIZE_INVALID",
            Error::NameInvalid(_) => "NAME_INVALID",
            Error::NameUnknown(_) => "NAME_UNKNOWN",
            Error::Unsupported(_)
            | Error::TooManyTags { .. }
            | Error::RouteUnknown
            | Error::MethodNotAllowed => "UNSUPPORTED",
            Error::TooManyRequests => "TOOMANYREQUESTS",
            Error::Unauthorized { .. } => "UNAUTHORIZED",
            Error::Denied(_) => "DENIED",
            Error::Internal(_) | Error::Misconfigured { .. } => "UNKNOWN",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::BlobUnknown(_)
            | Error::BlobUploadUnknown
            | Error::ManifestUnknown
            | Error::NameUnknown(_)
            | Error::RouteUnknown => 404,
            Error::RangeInvalid(_) | Error::RangeNotSatisfiable { .. } => 416,
            Error::ManifestTooLarge { .. } => 413,
            // The spec's answer to too many tags in one push: 414 Request-URI Too Long.
            Error::TooManyTags { .. } => 414,
            Error::MethodNotAllowed => 405,
            Error::TooManyRequests => 429,
            Error::Unauthorized { .. } => 401,
            Error::Denied(_) => 403,
            Error::Internal(_) | Error::Misconfigured { .. } => 500,
            _ => 400,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Error::BlobUnknown(_) => "blob unknown to registry".into(),
            Error::BlobUploadUnknown => "blob upload unknown to registry".into(),
            Error::BlobUploadInvalid(why) => format!("blob upload invalid: {why}"),
            Error::RangeInvalid(why) => format!("range invalid: {why}"),
            Error::RangeNotSatisfiable { range, size } => {
                format!("range {range:?} cannot be served from a blob of {size} bytes")
            }
            Error::DigestInvalid(why) => {
                format!("provided digest did not match uploaded content: {why}")
            }
            Error::ManifestBlobUnknown(_) => {
                "manifest references a blob or manifest unknown to this repository".into()
            }
            Error::ManifestInvalid(why) => format!("manifest invalid: {why}"),
            Error::ManifestUnknown => "manifest unknown".into(),
            Error::ManifestTooLarge { limit } => format!("manifest larger than {limit} bytes"),
            Error::NameInvalid(why) => format!("invalid repository name: {why}"),
            Error::NameUnknown(name) => format!("repository name not known to registry: {name}"),
            Error::TagInvalid(why) => format!("invalid tag: {why}"),
            Error::TooManyTags { limit } => format!("at most {limit} tags per push"),
            Error::Unsupported(why) => format!("unsupported: {why}"),
            Error::RouteUnknown => "no such endpoint".into(),
            Error::MethodNotAllowed => "method not allowed on this endpoint".into(),
            Error::TooManyRequests => "too many requests; retry later".into(),
            Error::Unauthorized { why, .. } => format!("authentication required: {why}"),
            Error::Denied(why) => format!("requested access to the resource is denied: {why}"),
            Error::Internal(_) => "internal error; the registry logged the details".into(),
            // Whoever sees this can tell the operator which setting to fix.
            Error::Misconfigured {
                setting,
                secret: true,
                ..
            } => format!("registry misconfigured: {setting} is invalid; the registry logged why"),
            Error::Misconfigured { setting, why, .. } => {
                format!("registry misconfigured: {setting} {why}")
            }
        }
    }

    /// Structured detail for the error body, where a client can act on it.
    pub fn detail(&self) -> serde_json::Value {
        match self {
            Error::BlobUnknown(digest) | Error::ManifestBlobUnknown(digest) => {
                serde_json::json!({ "digest": digest.to_string() })
            }
            _ => serde_json::Value::Null,
        }
    }

    /// Headers the error response carries besides its body.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Error::RangeNotSatisfiable { size, .. } => {
                vec![("Content-Range", format!("bytes */{size}"))]
            }
            Error::Unauthorized { challenge, .. } => {
                vec![("WWW-Authenticate", challenge.clone())]
            }
            Error::TooManyRequests => vec![("Retry-After", RETRY_AFTER_SECONDS.to_string())],
            _ => Vec::new(),
        }
    }

    /// `{"errors":[{"code","message","detail"}]}`, as the distribution spec defines it.
    pub fn body(&self) -> Vec<u8> {
        let body = serde_json::json!({
            "errors": [{ "code": self.code(), "message": self.message(), "detail": self.detail() }]
        });
        body.to_string().into_bytes()
    }
}

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

impl Error {
    /// An access-control failure; `challenge` goes out with the 401 ones.
    pub fn from_auth(err: AuthError, challenge: String) -> Self {
        match err {
            AuthError::BadCredentials(why) | AuthError::InvalidToken(why) => {
                Error::Unauthorized { why, challenge }
            }
            AuthError::InvalidScope(why) => Error::Unsupported(why),
            AuthError::Config(why) => Error::Internal(format!("access configuration: {why}")),
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
            UploadError::Read(why) => {
                Error::BlobUploadInvalid(format!("reading the request body failed: {why}"))
            }
            UploadError::Storage(err) => err.into(),
            UploadError::TooLarge { limit } => Error::ManifestTooLarge { limit },
            UploadError::DigestMismatch { expected, actual } => {
                Error::DigestInvalid(format!("expected {expected}, content has {actual}"))
            }
            UploadError::ContentMismatch { expected } => {
                Error::DigestInvalid(format!("the content does not match {expected}"))
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
