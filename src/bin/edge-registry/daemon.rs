//! `docker-daemon:IMAGE`: the image as `docker save` writes it, into a temporary archive that
//! is then read like any `docker-archive:` (and removed when the push is over).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::CliError;

/// A `docker save` archive in the temporary directory, removed when dropped.
pub struct Saved {
    path: PathBuf,
}

impl Saved {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Saved {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Runs `docker save IMAGE -o <temporary file>`.
pub fn save(image: &str) -> Result<Saved, CliError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let saved = Saved {
        path: std::env::temp_dir().join(format!(
            "edge-registry-docker-save-{}-{nanos}.tar",
            std::process::id()
        )),
    };
    let output = Command::new("docker")
        .arg("save")
        .arg("-o")
        .arg(&saved.path)
        .arg(image)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| {
            CliError::Daemon(format!(
                "cannot run docker ({e}): is Docker installed, and is the Docker daemon running?"
            ))
        })?;
    if output.status.success() {
        return Ok(saved);
    }
    // docker's message on one line: it may print several.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let said = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let lower = said.to_lowercase();
    Err(CliError::Daemon(
        if lower.contains("no such image") || lower.contains("reference does not exist") {
            format!("the Docker daemon has no image {image:?} ({said})")
        } else {
            // docker ends its "Cannot connect" line with the question this line ends with.
            let said = said.replace(" Is the docker daemon running?", "");
            format!(
                "`docker save {image}` failed: {}; is the Docker daemon running?",
                said.trim_end_matches('.')
            )
        },
    ))
}
