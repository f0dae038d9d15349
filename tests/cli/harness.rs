//! What the `edge-registry` tests share: the worker's address, scratch directories, running
//! the CLI with a docker config of its own, and content no other run has pushed.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

pub const MIB: usize = 1 << 20;

/// `host:port` of the worker.
pub fn registry() -> String {
    let url = std::env::var("REGISTRY_URL").expect("REGISTRY_URL: run these through scripts/test");
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// A name no other run of the tests used: the worker's state may outlive a run.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A fresh directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(unique(&format!("edge-registry-cli-{name}")));
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// The CLI with `config` as its DOCKER_CONFIG and `config`/cache as its cache: each test's
/// runs share what they remember, and no other test's.
pub fn command(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_edge-registry"));
    command
        .args(args)
        .env("DOCKER_CONFIG", config)
        .env("XDG_CACHE_HOME", config.join("cache"));
    command
}

/// Runs the CLI with `config` as its DOCKER_CONFIG and `stdin` as its input.
pub fn edge_registry(config: &Path, args: &[&str], stdin: &str) -> Run {
    edge_registry_env(config, args, stdin, &[])
}

/// Runs the CLI as [`edge_registry`] does, with `env` added to its environment.
pub fn edge_registry_env(config: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
    let mut child = command(config, args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        success: output.status.success(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

pub fn login(config: &Path, user: &str, password: &str) -> Run {
    edge_registry(
        config,
        &["login", &registry(), "-u", user, "--password-stdin"],
        password,
    )
}

/// A failed run: a non-zero exit and exactly one line, on stderr, that says `why`.
pub fn assert_fails_in_one_line(run: &Run, why: &str) {
    assert!(!run.success, "expected a failure, got: {}", run.stdout);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {:?}", run.stderr);
    assert!(run.stderr.contains(why), "{why:?} not in {:?}", run.stderr);
}

/// Bytes that differ from every other run's, so that no blob is already in the registry.
pub fn random_bytes(len: usize, seed: &str) -> Vec<u8> {
    let mut block = Sha256::digest(seed.as_bytes()).to_vec();
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        block = Sha256::digest(&block).to_vec();
        bytes.extend_from_slice(&block);
    }
    bytes.truncate(len);
    bytes
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub fn get(path: &str, accept: &str) -> Vec<u8> {
    let response = ureq::get(&format!("http://{}/v2/{path}", registry()))
        .set("Accept", accept)
        .call()
        .unwrap();
    let mut bytes = Vec::new();
    response.into_reader().read_to_end(&mut bytes).unwrap();
    bytes
}
