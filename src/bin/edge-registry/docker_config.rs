//! Credentials where docker keeps them: `auths.<registry>.auth` in `$DOCKER_CONFIG/config.json`
//! (by default `~/.docker/config.json`), base64 of `user:password`, so that one login serves
//! docker and this program. Every other field of the file is kept as it was.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::CliError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// A refresh token (`identitytoken`), which docker stores instead of the password when
    /// the registry's token endpoint hands one out: exchanged with the OAuth2
    /// `refresh_token` grant.
    pub identity_token: Option<String>,
}

impl Credentials {
    pub fn password(username: String, password: String) -> Credentials {
        Credentials {
            username,
            password,
            identity_token: None,
        }
    }
}

fn identity_token(entry: &Map<String, Value>) -> Option<String> {
    entry
        .get("identitytoken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// The config file's whole JSON object, so that writing it back keeps what we do not know.
#[derive(Debug, Default)]
pub struct DockerConfig {
    fields: Map<String, Value>,
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
pub fn default_path() -> Result<PathBuf, CliError> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| CliError::Config("neither DOCKER_CONFIG nor HOME is set".into()))?;
    Ok(PathBuf::from(home).join(".docker").join("config.json"))
}

/// The key a registry is stored under: docker stores the host (`host[:port]`) as typed, and
/// older versions a URL; both are found.
fn matches(key: &str, registry: &str) -> bool {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    host == registry || host.strip_suffix("/v1") == Some(registry)
}

impl DockerConfig {
    /// A missing file is an empty configuration, as for docker.
    pub fn load(path: &Path) -> Result<DockerConfig, CliError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(DockerConfig::default()),
            Err(e) => return Err(CliError::Config(format!("{}: {e}", path.display()))),
        };
        DockerConfig::parse(&text)
            .map_err(|why| CliError::Config(format!("{}: {why}", path.display())))
    }

    fn parse(text: &str) -> Result<DockerConfig, String> {
        if text.trim().is_empty() {
            return Ok(DockerConfig::default());
        }
        match serde_json::from_str(text) {
            Ok(Value::Object(fields)) => Ok(DockerConfig { fields }),
            Ok(_) => Err("not a JSON object".into()),
            Err(e) => Err(format!("not valid JSON: {e}")),
        }
    }

    fn auths(&self) -> impl Iterator<Item = (&String, &Map<String, Value>)> {
        self.fields
            .get("auths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(key, entry)| Some((key, entry.as_object()?)))
    }

    /// The stored credentials for `registry` (`host[:port]`): the `auth` field, or docker's
    /// older separate `username` and `password`.
    pub fn credentials(&self, registry: &str) -> Result<Option<Credentials>, CliError> {
        let Some((key, entry)) = self.auths().find(|(key, _)| matches(key, registry)) else {
            return Ok(None);
        };
        let bad = |why: &str| CliError::Config(format!("auths.{key}: {why}"));
        if let Some(auth) = entry
            .get("auth")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        {
            let decoded = STANDARD
                .decode(auth.trim())
                .map_err(|_| bad("auth is not base64"))?;
            let text = String::from_utf8(decoded).map_err(|_| bad("auth is not UTF-8"))?;
            let (username, password) = text
                .split_once(':')
                .ok_or_else(|| bad("auth is not base64 of user:password"))?;
            return Ok(Some(Credentials {
                username: username.to_string(),
                password: password.to_string(),
                identity_token: identity_token(entry),
            }));
        }
        let field = |name| entry.get(name).and_then(Value::as_str).map(str::to_string);
        Ok(field("username")
            .zip(field("password"))
            .map(|(username, password)| Credentials::password(username, password)))
    }

    /// Stores `credentials` for `registry`, keeping the entry's other fields (`email`, ...).
    pub fn set(&mut self, registry: &str, credentials: &Credentials) {
        let auths = self
            .fields
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        let Value::Object(auths) = auths else {
            unreachable!("auths was just made an object")
        };
        let keys: Vec<String> = auths
            .keys()
            .filter(|k| matches(k, registry))
            .cloned()
            .collect();
        let mut entry = Map::new();
        for key in keys {
            if let Some(Value::Object(old)) = auths.remove(&key) {
                entry = old;
            }
        }
        // A password login replaces a refresh token docker stored.
        for field in ["username", "password", "identitytoken"] {
            entry.remove(field);
        }
        let pair = format!("{}:{}", credentials.username, credentials.password);
        entry.insert("auth".into(), Value::String(STANDARD.encode(pair)));
        auths.insert(registry.to_string(), Value::Object(entry));
    }

    /// Removes `registry`'s credentials; whether there were any.
    pub fn remove(&mut self, registry: &str) -> bool {
        let Some(Value::Object(auths)) = self.fields.get_mut("auths") else {
            return false;
        };
        let before = auths.len();
        auths.retain(|key, _| !matches(key, registry));
        auths.len() != before
    }

    /// Writes the file readable by its owner only (it holds passwords), through a temporary
    /// file and a rename so that a failure never leaves half a file.
    pub fn save(&self, path: &Path) -> Result<(), CliError> {
        let failed = |e: std::io::Error| CliError::Config(format!("{}: {e}", path.display()));
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(failed)?;
        let mut text = serde_json::to_string_pretty(&self.fields).expect("JSON values serialise");
        text.push('\n');
        let temporary = dir.join(format!(".config.json.{}.tmp", std::process::id()));
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options
            .open(&temporary)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .and_then(|()| fs::rename(&temporary, path));
        if written.is_err() {
            // Best effort: the error that matters is the write's.
            let _ = fs::remove_file(&temporary);
        }
        written.map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Credentials {
        Credentials::password("alice".into(), "s3cret:with:colons".into())
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("edge-registry-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn reads_what_docker_login_stored() {
        // `docker login -u alice` stores base64("alice:password").
        let config = DockerConfig::parse(
            r#"{"auths":{"registry.example:5000":{"auth":"YWxpY2U6cGFzc3dvcmQ="}},"credsStore":""}"#,
        )
        .unwrap();
        assert_eq!(
            config.credentials("registry.example:5000").unwrap(),
            Some(Credentials::password("alice".into(), "password".into()))
        );
        assert_eq!(config.credentials("registry.example").unwrap(), None);
    }

    #[test]
    fn reads_the_refresh_token_docker_stores_instead_of_a_password() {
        // What `docker login` stored against this registry, whose /token hands out refresh
        // tokens: the user with an empty password, and the token.
        let config = DockerConfig::parse(
            r#"{"auths":{"127.0.0.1:8787":{"auth":"cHVzaGVyOg==","identitytoken":"eyJ.x.y"}}}"#,
        )
        .unwrap();
        assert_eq!(
            config.credentials("127.0.0.1:8787").unwrap(),
            Some(Credentials {
                username: "pusher".into(),
                password: String::new(),
                identity_token: Some("eyJ.x.y".into()),
            })
        );
        // Logging in with a password replaces the token.
        let mut config = config;
        config.set("127.0.0.1:8787", &alice());
        assert_eq!(config.credentials("127.0.0.1:8787").unwrap(), Some(alice()));
    }

    #[test]
    fn finds_entries_stored_as_urls_and_separate_fields() {
        let config = DockerConfig::parse(
            r#"{"auths":{"https://old.example/v1/":{"username":"bob","password":"pw"}}}"#,
        )
        .unwrap();
        let found = config.credentials("old.example").unwrap().unwrap();
        assert_eq!(
            (found.username.as_str(), found.password.as_str()),
            ("bob", "pw")
        );
    }

    #[test]
    fn a_password_may_hold_colons_and_bad_base64_is_an_error() {
        let mut config = DockerConfig::default();
        config.set("r.example", &alice());
        assert_eq!(config.credentials("r.example").unwrap(), Some(alice()));
        let broken = DockerConfig::parse(r#"{"auths":{"r.example":{"auth":"%%%"}}}"#).unwrap();
        let err = broken.credentials("r.example").unwrap_err().to_string();
        assert!(err.contains("auths.r.example: auth is not base64"), "{err}");
    }

    #[test]
    fn a_missing_file_is_empty_and_saving_creates_it_private() {
        let dir = scratch("missing");
        let path = dir.join("config.json");
        let mut config = DockerConfig::load(&path).unwrap();
        assert_eq!(config.credentials("r.example").unwrap(), None);
        config.set("r.example", &alice());
        config.save(&path).unwrap();
        let saved: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            saved["auths"]["r.example"]["auth"],
            STANDARD.encode("alice:s3cret:with:colons")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn writing_and_removing_keep_every_other_field() {
        let dir = scratch("fields");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        let original = r#"{
            "auths": {
                "other.example": {"auth": "b3RoZXI6cHc="},
                "r.example": {"auth": "b2xkOm9sZA==", "email": "a@example.com"}
            },
            "credHelpers": {"gcr.io": "gcloud"},
            "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
            "psFormat": "table {{.ID}}"
        }"#;
        fs::write(&path, original).unwrap();

        let mut config = DockerConfig::load(&path).unwrap();
        config.set("r.example", &alice());
        config.save(&path).unwrap();
        let saved: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let mut expected: Value = serde_json::from_str(original).unwrap();
        expected["auths"]["r.example"]["auth"] =
            Value::String(STANDARD.encode("alice:s3cret:with:colons"));
        assert_eq!(saved, expected);

        let mut config = DockerConfig::load(&path).unwrap();
        assert!(config.remove("r.example"));
        assert!(!config.remove("r.example"));
        config.save(&path).unwrap();
        let saved: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        expected["auths"]
            .as_object_mut()
            .unwrap()
            .remove("r.example");
        assert_eq!(saved, expected);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_json_object_is_an_error() {
        assert!(DockerConfig::parse("[1]").is_err());
        assert!(DockerConfig::parse("{").is_err());
        assert!(DockerConfig::parse("").unwrap().fields.is_empty());
    }
}
