//! What can go wrong, each as the one line the user sees.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("docker config {0}")]
    Config(String),
    #[error("{} is not an OCI image layout: {why}", path.display())]
    NotLayout { path: PathBuf, why: String },
    #[error("{} (OCI layout): {why}", path.display())]
    Layout { path: PathBuf, why: String },
    #[error("cannot reach the registry {registry}: {why}")]
    Unreachable { registry: String, why: String },
    #[error("login to {registry} refused: {why}")]
    LoginRefused { registry: String, why: String },
    #[error("{registry} asks for credentials: run `edge-registry login {registry}` first ({why})")]
    NeedsLogin { registry: String, why: String },
    #[error("{what}: denied: {why}")]
    Denied { what: String, why: String },
    #[error("{what}: {why}")]
    NotFound { what: String, why: String },
    /// 416: an upload resumed from a position the registry does not have.
    #[error("{what}: {why}")]
    RangeRefused { what: String, why: String },
    /// 429 or 5xx: may pass when tried again.
    #[error("{what}: {why}")]
    Unavailable { what: String, why: String },
    #[error("{what}: {why}")]
    Registry { what: String, why: String },
    #[error("{} (docker archive): {why}", path.display())]
    Archive { path: PathBuf, why: String },
    #[error("docker-daemon: {0}")]
    Daemon(String),
}

impl CliError {
    /// Whether trying again may succeed: the registry could not be reached or was
    /// overloaded or failing, as opposed to refusing the request.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CliError::Unreachable { .. } | CliError::Unavailable { .. }
        )
    }
}
