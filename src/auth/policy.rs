//! Who may do what, configured without a database: users identified by random tokens of
//! which only the SHA-256 is stored, their grants on repository patterns, and the patterns
//! of private repositories. Everything else is public: anyone may pull it.
//!
//! The users text holds one user per line (or per `;`), `#` starting a comment:
//!
//! ```text
//! alice  <sha256 of alice's token>  alice/*=*  project/app=pull,push
//! ci     <sha256 of ci's token>     project/*=pull,push
//! ```

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use wildmatch::WildMatch;

use super::scope::Actions;
use super::AuthError;

/// The wildcards of repository patterns (wildmatch's).
const WILDCARDS: [char; 2] = ['*', '?'];

/// Actions on the repositories a pattern matches: `PATTERN=ACTIONS` in users and OIDC rules.
#[derive(Debug)]
pub struct Grant {
    pattern: WildMatch,
    actions: Actions,
}

impl Grant {
    /// `PATTERN=ACTIONS`, such as `acme/*=pull,push`.
    pub fn parse(grant: &str) -> Result<Grant, String> {
        let (pattern, actions) = grant
            .split_once('=')
            .ok_or_else(|| format!("grant {grant:?} is not PATTERN=ACTIONS"))?;
        let actions = Actions::parse_list(actions);
        if actions.is_empty() {
            return Err(format!("grant {grant:?} names no known action"));
        }
        Ok(Grant {
            pattern: parse_pattern(pattern)?,
            actions,
        })
    }

    /// What this grant allows on `repository`.
    pub fn on(&self, repository: &str) -> Actions {
        if self.pattern.matches(repository) {
            self.actions
        } else {
            Actions::NONE
        }
    }
}

#[derive(Debug)]
pub struct User {
    pub name: String,
    token_sha256: [u8; 32],
    grants: Vec<Grant>,
    /// The `REGISTRY_ADMIN` user, who may also run maintenance on demand.
    pub administrator: bool,
}

impl User {
    /// Changes whenever the user's token is replaced, so that refresh tokens issued for the
    /// old one stop working. Derived from the hash, so it reveals nothing about the token.
    pub fn credential_fingerprint(&self) -> String {
        hex::encode(&Sha256::digest(self.token_sha256)[..16])
    }
}

#[derive(Debug, Default)]
pub struct Policy {
    users: Vec<User>,
    private: Vec<WildMatch>,
}

impl Policy {
    /// `users` in the format above; `admin` is `NAME SHA256`, a user with every action on
    /// every repository; `private` lists repository patterns (see [`parse_patterns`]).
    pub fn parse(users: &str, admin: Option<&str>, private: &str) -> Result<Policy, AuthError> {
        let users = parse_users(users).map_err(AuthError::Config)?;
        let private = parse_patterns(private).map_err(AuthError::Config)?;
        Policy::new(users, admin, private).map_err(AuthError::Config)
    }

    /// The policy of users already parsed ([`parse_users`]), the administrator (`NAME
    /// SHA256`), if any, and the private patterns ([`parse_patterns`]); an error is the
    /// administrator's: a malformed line, or a name a user has already.
    pub fn new(
        mut users: Vec<User>,
        admin: Option<&str>,
        private: Vec<WildMatch>,
    ) -> Result<Policy, String> {
        if let Some(admin) = admin.map(str::trim).filter(|a| !a.is_empty()) {
            let mut admin =
                parse_user(&format!("{admin} *=*")).map_err(|why| format!("admin: {why}"))?;
            admin.administrator = true;
            if users.iter().any(|user| user.name == admin.name) {
                return Err(format!("user {:?} is configured twice", admin.name));
            }
            users.push(admin);
        }
        Ok(Policy { users, private })
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|user| user.name == name)
    }

    /// The user whose token this is; the comparison takes the same time whichever byte differs.
    pub fn authenticate(&self, name: &str, token: &str) -> Option<&User> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let user = self.user(name)?;
        bool::from(user.token_sha256.ct_eq(&presented)).then_some(user)
    }

    /// Changes whenever the private patterns do: part of edge-cache keys.
    pub fn private_fingerprint(&self) -> String {
        let patterns: Vec<String> = self.private.iter().map(|p| p.to_string()).collect();
        hex::encode(&Sha256::digest(patterns.join("\n").as_bytes())[..8])
    }

    pub fn is_private(&self, repository: &str) -> bool {
        self.private.iter().any(|p| p.matches(repository))
    }

    /// A prefix of `repository` under which every name is private and beyond `user`'s pull
    /// grants, so that a listing may skip past all of them at once: the literal part of a
    /// private pattern `<prefix>*` that `repository` matches, when no pull grant's pattern
    /// could match a name with that prefix.
    pub fn hidden_prefix(&self, user: Option<&User>, repository: &str) -> Option<String> {
        let pull_grants: Vec<String> = user
            .into_iter()
            .flat_map(|user| &user.grants)
            .filter(|grant| grant.actions.contains(Actions::PULL))
            .map(|grant| grant.pattern.to_string())
            .collect();
        self.private
            .iter()
            .map(|pattern| pattern.to_string())
            .filter_map(|pattern| {
                let prefix = pattern.strip_suffix('*')?;
                let literal = !prefix.contains(WILDCARDS) && repository.starts_with(prefix);
                literal.then(|| prefix.to_string())
            })
            .find(|prefix| {
                // A name under `prefix` matched by a grant starts with the grant's literal head
                // too, so one of the two is a prefix of the other.
                !pull_grants.iter().any(|grant| {
                    let head = grant.split(WILDCARDS).next().unwrap_or_default();
                    head.starts_with(prefix.as_str()) || prefix.starts_with(head)
                })
            })
    }

    /// What `user` (or an anonymous caller, for `None`) may do on `repository`.
    pub fn allowed(&self, user: Option<&User>, repository: &str) -> Actions {
        let public = if self.is_private(repository) {
            Actions::NONE
        } else {
            Actions::PULL
        };
        user.into_iter()
            .flat_map(|user| &user.grants)
            .filter(|grant| grant.pattern.matches(repository))
            .fold(public, |actions, grant| actions.union(grant.actions))
    }
}

/// Repository patterns separated by commas or whitespace of any kind (spaces, tabs,
/// newlines). A pattern holds only what repository names hold, and the wildcards `*` and `?`:
/// anything else could never match, and a private pattern that never matches would leave
/// public what was meant to be private.
/// The users of `REGISTRY_USERS`, one per line or `;`-separated, `#` starting a comment;
/// a name may be configured once.
pub fn parse_users(text: &str) -> Result<Vec<User>, String> {
    let mut users: Vec<User> = Vec::new();
    for (index, entry) in text.split(['\n', ';']).enumerate() {
        let entry = entry.split('#').next().unwrap_or_default().trim();
        if entry.is_empty() {
            continue;
        }
        let user = parse_user(entry).map_err(|why| format!("users entry {}: {why}", index + 1))?;
        if users.iter().any(|other| other.name == user.name) {
            return Err(format!("user {:?} is configured twice", user.name));
        }
        users.push(user);
    }
    Ok(users)
}

pub fn parse_patterns(text: &str) -> Result<Vec<WildMatch>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(parse_pattern)
        .collect()
}

/// One repository pattern; see [`parse_patterns`].
pub fn parse_pattern(pattern: &str) -> Result<WildMatch, String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/*?".contains(c);
    match pattern.chars().find(|&c| !allowed(c)) {
        Some(c) => Err(format!(
            "pattern {pattern:?} holds {c:?}: patterns hold lowercase letters, digits, '.', '_', '-', '/' and the wildcards '*' and '?'"
        )),
        None => Ok(WildMatch::new(pattern)),
    }
}

fn parse_user(entry: &str) -> Result<User, String> {
    let mut fields = entry.split_whitespace();
    let name = fields.next().ok_or("no name")?;
    if name.contains(':') {
        // Likely NAME:PASSWORD pasted by mistake: the text is not repeated, even to the log.
        return Err("a user name contains ':'".into());
    }
    let hash = fields.next().ok_or("no token hash")?;
    let hash = hash.strip_prefix("sha256:").unwrap_or(hash);
    let token_sha256 = hex::decode(hash)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or("the token hash is not 64 hex digits")?;
    let grants = fields.map(Grant::parse).collect::<Result<_, String>>()?;
    Ok(User {
        name: name.to_string(),
        token_sha256,
        grants,
        administrator: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(token: &str) -> String {
        hex::encode(Sha256::digest(token.as_bytes()))
    }

    fn policy() -> Policy {
        let users = format!(
            "alice {} alice/*=* project/app=pull,push # maintainer\n\
             ci sha256:{} project/*=push; reader {} internal/*=pull",
            hash("alice-token"),
            hash("ci-token"),
            hash("reader-token")
        );
        let admin = format!("root {}", hash("root-token"));
        Policy::parse(&users, Some(&admin), "internal/*, secret").unwrap()
    }

    #[test]
    fn authenticates_by_token_hash() {
        let policy = policy();
        assert_eq!(
            policy.authenticate("alice", "alice-token").unwrap().name,
            "alice"
        );
        assert!(policy.authenticate("alice", "ci-token").is_none());
        assert!(policy.authenticate("nobody", "alice-token").is_none());
        assert!(policy.authenticate("root", "root-token").is_some());
    }

    #[test]
    fn grants_follow_patterns_and_privacy() {
        let policy = policy();
        let user = |name| policy.user(name);
        let pull_push = Actions::PULL.union(Actions::PUSH);
        assert_eq!(policy.allowed(None, "project/app"), Actions::PULL);
        assert_eq!(policy.allowed(None, "internal/tool"), Actions::NONE);
        assert_eq!(policy.allowed(None, "secret"), Actions::NONE);
        assert_eq!(policy.allowed(None, "secret/x"), Actions::PULL);
        assert_eq!(policy.allowed(user("alice"), "alice/a/b"), Actions::ALL);
        assert_eq!(policy.allowed(user("alice"), "project/app"), pull_push);
        assert_eq!(
            policy.allowed(user("alice"), "project/other"),
            Actions::PULL
        );
        assert_eq!(
            policy.allowed(user("alice"), "internal/tool"),
            Actions::NONE
        );
        assert_eq!(policy.allowed(user("ci"), "project/x"), pull_push);
        assert_eq!(
            policy.allowed(user("reader"), "internal/tool"),
            Actions::PULL
        );
        assert_eq!(policy.allowed(user("root"), "internal/tool"), Actions::ALL);
    }

    #[test]
    fn hidden_prefixes_cover_only_what_no_pull_grant_reaches() {
        let policy = policy();
        let user = |name| policy.user(name);
        let hidden = |user, repository| policy.hidden_prefix(user, repository);
        assert_eq!(hidden(None, "internal/tool"), Some("internal/".into()));
        assert_eq!(
            hidden(user("alice"), "internal/tool"),
            Some("internal/".into())
        );
        // reader may pull internal/*; root may pull everything (`*`).
        assert_eq!(hidden(user("reader"), "internal/tool"), None);
        assert_eq!(hidden(user("root"), "internal/tool"), None);
        // `secret` is an exact name, not `<prefix>*`.
        assert_eq!(hidden(None, "secret"), None);
        let narrow = Policy::parse(
            &format!("bob {} internal/app=pull other/*=pull", hash("b")),
            None,
            "internal/*, *-draft",
        )
        .unwrap();
        let bob = narrow.user("bob");
        assert_eq!(narrow.hidden_prefix(bob, "internal/x"), None);
        assert_eq!(
            narrow.hidden_prefix(None, "internal/x"),
            Some("internal/".into())
        );
        assert_eq!(narrow.hidden_prefix(None, "a-draft"), None);
    }

    #[test]
    fn rejects_malformed_configuration() {
        for users in [
            "alice",
            "alice 1234",
            &format!("alice {} alice/*", hash("t")),
            &format!("alice {} alice/*=fly", hash("t")),
            &format!("a:b {}", hash("t")),
            &format!("alice {}; alice {}", hash("t"), hash("u")),
        ] {
            assert!(Policy::parse(users, None, "").is_err(), "{users:?}");
        }
        assert!(Policy::parse("", Some("root"), "").is_err());
        assert!(Policy::parse("\n# nobody yet\n", None, "").is_ok());
    }

    #[test]
    fn private_patterns_take_any_separator_and_refuse_what_no_name_holds() {
        let separated = "internal/*\tacme/secret-*,\n\r team/x ,, other\u{a0}y";
        let policy = Policy::parse("", None, separated).unwrap();
        for private in ["internal/a", "acme/secret-b", "team/x", "other", "y"] {
            assert_eq!(policy.allowed(None, private), Actions::NONE, "{private}");
        }
        assert_eq!(policy.allowed(None, "acme/public"), Actions::PULL);
        for bad in ["Internal/*", "acme/é", "a;b", "a:b", "a|b", "\"x\""] {
            let error = Policy::parse("", None, bad).unwrap_err();
            assert!(matches!(error, AuthError::Config(_)), "{bad:?}");
        }
        let grant = format!("alice {} Alice/*=pull", hash("t"));
        assert!(Policy::parse(&grant, None, "").is_err());
    }

    #[test]
    fn fingerprints_change_with_the_token() {
        let a = Policy::parse(&format!("u {}", hash("one")), None, "").unwrap();
        let b = Policy::parse(&format!("u {}", hash("two")), None, "").unwrap();
        let fingerprint = |p: &Policy| p.user("u").unwrap().credential_fingerprint();
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert!(!fingerprint(&a).contains(&hash("one")));
    }
}
