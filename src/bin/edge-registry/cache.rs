//! What the CLI remembers between runs, under `$XDG_CACHE_HOME/edge-registry` (else
//! `~/.cache/edge-registry`): where each unfinished blob upload stands, so that a push run
//! again resumes it, and which repository of a registry last received each blob, so that
//! another repository can mount it instead of uploading it. The cache only saves work: when it
//! cannot be read or written, the push goes on as if it were empty.

use std::fs;
use std::path::{Path, PathBuf};

use edge_registry::oci::Digest;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use url::Url;

/// An unfinished upload: its session's URL, how many bytes the registry confirmed, and the
/// chunk limit it advertised when the upload started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    pub location: String,
    pub offset: u64,
    pub chunk_max: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// A file name for any text: its SHA-256, as names may hold `/` and `:`.
fn key(parts: &[&str]) -> String {
    hex::encode(Sha256::digest(parts.join("\n").as_bytes()))
}

impl Cache {
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    /// `$XDG_CACHE_HOME/edge-registry`, else `$HOME/.cache/edge-registry`; none without either.
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|home| Path::new(&home).join(".cache"))
            })?;
        Some(base.join("edge-registry"))
    }

    fn upload_path(&self, registry: &str, repository: &str, digest: &Digest) -> PathBuf {
        self.dir
            .join("uploads")
            .join(key(&[registry, repository, &digest.to_string()]))
    }

    fn holder_path(&self, registry: &str, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(key(&[registry, &digest.to_string()]))
    }

    pub fn upload(&self, registry: &str, repository: &str, digest: &Digest) -> Option<UploadState> {
        let bytes = fs::read(self.upload_path(registry, repository, digest)).ok()?;
        let state: UploadState = serde_json::from_slice(&bytes).ok()?;
        Url::parse(&state.location).ok().map(|_| state)
    }

    pub fn save_upload(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        state: &UploadState,
    ) {
        let bytes = serde_json::to_vec(state).expect("an upload state serialises");
        write_atomically(&self.upload_path(registry, repository, digest), &bytes);
    }

    pub fn forget_upload(&self, registry: &str, repository: &str, digest: &Digest) {
        let _ = fs::remove_file(self.upload_path(registry, repository, digest));
    }

    /// The repository of `registry` that last received `digest`, to mount it from.
    pub fn holder(&self, registry: &str, digest: &Digest) -> Option<String> {
        let text = fs::read_to_string(self.holder_path(registry, digest)).ok()?;
        let repository = text.trim();
        (!repository.is_empty()).then(|| repository.to_string())
    }

    pub fn save_holder(&self, registry: &str, digest: &Digest, repository: &str) {
        write_atomically(&self.holder_path(registry, digest), repository.as_bytes());
    }
}

/// Writes through a temporary file and a rename, so that a reader (another thread, or a run
/// killed half-way) never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) {
    let Some(dir) = path.parent() else { return };
    if fs::create_dir_all(dir).is_err() {
        return;
    }
    let temporary = path.with_extension(format!("{}.tmp", std::process::id()));
    if fs::write(&temporary, bytes).is_ok() && fs::rename(&temporary, path).is_err() {
        let _ = fs::remove_file(&temporary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(byte: u8) -> Digest {
        format!("sha256:{}", hex::encode([byte; 32]))
            .parse()
            .unwrap()
    }

    #[test]
    fn uploads_and_holders_are_remembered_per_registry_and_repository() {
        let dir = std::env::temp_dir().join(format!("edge-registry-cache-{}", std::process::id()));
        let cache = Cache::new(dir.clone());
        let state = UploadState {
            location: "http://r.example/v2/a/blobs/uploads/1".into(),
            offset: 42,
            chunk_max: Some(8 << 20),
        };
        assert_eq!(cache.upload("r.example", "a", &digest(1)), None);
        cache.save_upload("r.example", "a", &digest(1), &state);
        assert_eq!(cache.upload("r.example", "a", &digest(1)), Some(state));
        assert_eq!(cache.upload("r.example", "b", &digest(1)), None);
        assert_eq!(cache.upload("other.example", "a", &digest(1)), None);
        cache.forget_upload("r.example", "a", &digest(1));
        assert_eq!(cache.upload("r.example", "a", &digest(1)), None);

        cache.save_holder("r.example", &digest(2), "team/app");
        assert_eq!(
            cache.holder("r.example", &digest(2)).as_deref(),
            Some("team/app")
        );
        assert_eq!(cache.holder("other.example", &digest(2)), None);
        cache.save_holder("r.example", &digest(2), "team/other");
        assert_eq!(
            cache.holder("r.example", &digest(2)).as_deref(),
            Some("team/other")
        );

        // A damaged file is as good as none.
        fs::write(
            cache.upload_path("r.example", "a", &digest(3)),
            b"{not json",
        )
        .unwrap();
        assert_eq!(cache.upload("r.example", "a", &digest(3)), None);
        fs::remove_dir_all(dir).unwrap();
    }
}
