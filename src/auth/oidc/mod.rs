//! Keyless push: OpenID Connect ID tokens (GitHub Actions', or any issuer's) exchanged at
//! `/token` for the registry's own access tokens, as far as `OIDC_TRUST`'s rules allow.
//!
//! The rules, one per line (or `;`-separated), `#` starting a comment:
//!
//! ```text
//! https://token.actions.githubusercontent.com repository_id=123456 ref=refs/heads/main => acme/app=pull,push
//! https://token.actions.githubusercontent.com repository_owner_id=789 => acme/*=pull
//! ```
//!
//! A rule is an issuer (exactly as the tokens' `iss` spells it), claim conditions
//! `CLAIM=VALUE` (all must hold; `*` in a value matches any text) and, after `=>`, the grants
//! it gives (`PATTERN=ACTIONS`, as users' grants). A token gets what every rule it matches
//! grants; one that matches no rule gets nothing, and its login fails. A rule needs at least
//! one condition that is not all wildcards: an issuer such as GitHub's signs tokens for
//! everyone.
//!
//! - [`verify`]: the ID token's signature (RS256, ES256) against the issuer's published keys,
//!   fetched through [`verify::IssuerFetch`] and cached through [`verify::KeyCache`], and its
//!   claims (`iss`, `aud`, `exp`, `nbf`, `iat`).

pub mod verify;

use serde_json::{Map, Value};

use super::policy::Grant;
use super::Actions;

pub use verify::{verify, IssuerFetch, KeyCache, Verified, VerifyOptions};

/// One rule of `OIDC_TRUST`.
#[derive(Debug)]
pub struct Rule {
    issuer: String,
    conditions: Vec<(String, String)>,
    grants: Vec<Grant>,
}

/// The rules of `OIDC_TRUST`; empty when it is unset, and then no ID token is accepted.
#[derive(Debug, Default)]
pub struct Trust {
    rules: Vec<Rule>,
}

impl Trust {
    /// Parses the rules (see the module's documentation); an error names the rule by number.
    pub fn parse(text: &str) -> Result<Trust, String> {
        let mut rules = Vec::new();
        for (index, entry) in text.split(['\n', ';']).enumerate() {
            let entry = entry.split('#').next().unwrap_or_default().trim();
            if entry.is_empty() {
                continue;
            }
            rules.push(parse_rule(entry).map_err(|why| format!("rule {}: {why}", index + 1))?);
        }
        Ok(Trust { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether some rule names `issuer`: tokens from any other are refused before anything is
    /// fetched, so that no one can make the registry fetch from a URL of their choosing.
    pub fn trusts(&self, issuer: &str) -> bool {
        self.rules.iter().any(|rule| rule.issuer == issuer)
    }

    /// The rules a verified token's claims match.
    pub fn matching(&self, claims: &Map<String, Value>) -> Matched<'_> {
        let issuer = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Matched(
            self.rules
                .iter()
                .filter(|rule| rule.issuer == issuer && rule.matches(claims))
                .collect(),
        )
    }
}

/// The rules one token matched: what it may do.
#[derive(Debug)]
pub struct Matched<'a>(Vec<&'a Rule>);

impl Matched<'_> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The union of the matched rules' grants on `repository`.
    pub fn allowed(&self, repository: &str) -> Actions {
        self.0
            .iter()
            .flat_map(|rule| &rule.grants)
            .fold(Actions::NONE, |actions, grant| {
                actions.union(grant.on(repository))
            })
    }
}

impl Rule {
    fn matches(&self, claims: &Map<String, Value>) -> bool {
        self.conditions.iter().all(|(name, pattern)| {
            claims
                .get(name)
                .is_some_and(|value| claim_matches(value, pattern))
        })
    }
}

/// A string claim matches as it is, a number or boolean as its JSON text, an array when one of
/// its elements matches; objects and null never match.
fn claim_matches(value: &Value, pattern: &str) -> bool {
    match value {
        Value::String(text) => glob(pattern, text),
        Value::Number(number) => glob(pattern, &number.to_string()),
        Value::Bool(flag) => glob(pattern, if *flag { "true" } else { "false" }),
        Value::Array(values) => values
            .iter()
            .any(|value| !value.is_array() && claim_matches(value, pattern)),
        Value::Object(_) | Value::Null => false,
    }
}

/// Whether `text` matches `pattern`, in which `*` stands for any text (also none) and every
/// other character for itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

fn parse_rule(entry: &str) -> Result<Rule, String> {
    let (claims, grants) = entry
        .split_once("=>")
        .ok_or("is not ISSUER CLAIM=VALUE... => PATTERN=ACTIONS...")?;
    let mut fields = claims.split_whitespace();
    let issuer = fields.next().ok_or("names no issuer")?;
    check_issuer(issuer)?;
    let conditions = fields
        .map(|condition| {
            let (name, value) = condition
                .split_once('=')
                .ok_or_else(|| format!("condition {condition:?} is not CLAIM=VALUE"))?;
            let valid_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
            if !valid_name {
                return Err(format!("condition {condition:?}: claim names are letters, digits, '_', '-', '.' and ':'"));
            }
            if value.is_empty() {
                return Err(format!("condition {condition:?} has no value"));
            }
            Ok((name.to_string(), value.to_string()))
        })
        .collect::<Result<Vec<_>, String>>()?;
    if !conditions
        .iter()
        .any(|(_, value)| value.chars().any(|c| c != '*'))
    {
        return Err(format!(
            "has no claim condition: it would trust every token {issuer} issues, for anyone"
        ));
    }
    let grants = grants
        .split_whitespace()
        .map(Grant::parse)
        .collect::<Result<Vec<_>, String>>()?;
    if grants.is_empty() {
        return Err("grants nothing (PATTERN=ACTIONS after =>)".into());
    }
    Ok(Rule {
        issuer: issuer.to_string(),
        conditions,
        grants,
    })
}

/// An issuer is an https URL without query or fragment; plain http only on loopback, where
/// no one else is on the wire (tests run their own issuer there).
pub fn check_issuer(issuer: &str) -> Result<(), String> {
    let url = url::Url::parse(issuer).map_err(|_| format!("issuer {issuer} is not a URL"))?;
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "issuer {issuer} has a query, fragment or user: issuers are https://HOST[/PATH]"
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        _ => Err(format!(
            "issuer {issuer} is not https (plain http only on loopback: 127.0.0.1, [::1], localhost)"
        )),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(domain)) => domain == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const GITHUB: &str = "https://token.actions.githubusercontent.com";

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn trust() -> Trust {
        Trust::parse(&format!(
            "{GITHUB} repository=acme/app repository_id=42 ref=refs/heads/main => acme/app=pull,push\n\
             # owners' read access\n\
             {GITHUB} repository_owner_id=7 => acme/*=pull; \
             http://127.0.0.1:8123 sub=repo:acme/*:ref:refs/tags/v* => acme/releases=push"
        ))
        .unwrap()
    }

    #[test]
    fn matches_every_condition_of_a_rule_and_unites_grants() {
        let trust = trust();
        let main = claims(json!({
            "iss": GITHUB, "repository": "acme/app", "repository_id": "42",
            "repository_owner_id": "7", "ref": "refs/heads/main"
        }));
        let matched = trust.matching(&main);
        assert_eq!(
            matched.allowed("acme/app"),
            Actions::PULL.union(Actions::PUSH)
        );
        assert_eq!(matched.allowed("acme/other"), Actions::PULL);
        assert_eq!(matched.allowed("elsewhere/app"), Actions::NONE);
        // Another branch: only the owner's rule.
        let branch = claims(json!({
            "iss": GITHUB, "repository": "acme/app", "repository_id": "42",
            "repository_owner_id": "7", "ref": "refs/heads/feature"
        }));
        assert_eq!(trust.matching(&branch).allowed("acme/app"), Actions::PULL);
        // A re-registered name with another id matches nothing.
        let impostor = claims(json!({
            "iss": GITHUB, "repository": "acme/app", "repository_id": "999",
            "repository_owner_id": "998", "ref": "refs/heads/main"
        }));
        assert!(trust.matching(&impostor).is_empty());
        // Conditions are per issuer.
        let other_issuer = claims(json!({
            "iss": "https://gitlab.com", "repository": "acme/app", "repository_id": "42",
            "repository_owner_id": "7", "ref": "refs/heads/main"
        }));
        assert!(trust.matching(&other_issuer).is_empty());
        let tag = claims(
            json!({"iss": "http://127.0.0.1:8123", "sub": "repo:acme/x:ref:refs/tags/v1.2"}),
        );
        assert_eq!(trust.matching(&tag).allowed("acme/releases"), Actions::PUSH);
        let missing = claims(json!({"iss": GITHUB, "repository": "acme/app"}));
        assert!(trust.matching(&missing).is_empty());
        assert!(trust.trusts(GITHUB) && trust.trusts("http://127.0.0.1:8123"));
        assert!(!trust.trusts("https://token.actions.githubusercontent.com/"));
    }

    #[test]
    fn claims_of_other_types_and_wildcards() {
        assert!(claim_matches(&json!(42), "42"));
        assert!(claim_matches(&json!(true), "true"));
        assert!(claim_matches(&json!(["a", "b"]), "b"));
        assert!(!claim_matches(&json!({"a": "b"}), "*"));
        assert!(!claim_matches(&Value::Null, "*"));
        for (pattern, text, expected) in [
            ("*", "", true),
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("a*c", "ac", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("abc", "abcd", false),
            ("a*a", "a", false),
            ("refs/tags/v*", "refs/tags/v1.0.0", true),
            ("refs/tags/v*", "refs/heads/v1", false),
            ("a?c", "abc", false),
        ] {
            assert_eq!(glob(pattern, text), expected, "{pattern} {text}");
        }
    }

    #[test]
    fn refuses_malformed_rules_and_unsafe_issuers() {
        for (text, why) in [
            (format!("{GITHUB} repository=a/b"), "is not ISSUER"),
            (format!("{GITHUB} => a/b=pull"), "no claim condition"),
            (
                format!("{GITHUB} repository=* => a/b=pull"),
                "no claim condition",
            ),
            (
                format!("{GITHUB} repository => a/b=pull"),
                "is not CLAIM=VALUE",
            ),
            (format!("{GITHUB} repository= => a/b=pull"), "has no value"),
            (format!("{GITHUB} repo$=x => a/b=pull"), "claim names"),
            (format!("{GITHUB} repository=a/b =>"), "grants nothing"),
            (
                format!("{GITHUB} repository=a/b => a/b=fly"),
                "no known action",
            ),
            (format!("{GITHUB} repository=a/b => A/b=pull"), "pattern"),
            (
                "http://token.example.com repository=a/b => a/b=pull".into(),
                "not https",
            ),
            (
                "ftp://127.0.0.1 repository=a/b => a/b=pull".into(),
                "not https",
            ),
            (
                "token.example.com repository=a/b => a/b=pull".into(),
                "not a URL",
            ),
            (
                "https://x.test/?a=b repository=a/b => a/b=pull".into(),
                "query",
            ),
            ("=> a/b=pull".into(), "names no issuer"),
        ] {
            let error = Trust::parse(&format!("# first\n{text}")).unwrap_err();
            assert!(
                error.starts_with("rule 2: ") && error.contains(why),
                "{text}: {error}"
            );
        }
        for loopback in [
            "http://127.0.0.1:9999",
            "http://localhost:1/issuer",
            "http://[::1]:80",
        ] {
            assert!(check_issuer(loopback).is_ok(), "{loopback}");
        }
        assert!(Trust::parse("").unwrap().is_empty());
        assert!(Trust::parse(" ;\n# nothing\n").unwrap().is_empty());
    }
}
