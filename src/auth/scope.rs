//! Actions, scopes (`repository:project/app:pull,push`) and the `access` claim of a token.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::AuthError;

/// A set of the repository actions the registry knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Actions(u8);

impl Actions {
    pub const NONE: Actions = Actions(0);
    pub const PULL: Actions = Actions(1);
    pub const PUSH: Actions = Actions(2);
    pub const DELETE: Actions = Actions(4);
    pub const ALL: Actions = Actions(7);

    const NAMES: [(Actions, &'static str); 3] = [
        (Actions::PULL, "pull"),
        (Actions::PUSH, "push"),
        (Actions::DELETE, "delete"),
    ];

    /// A comma-separated list; `*` is every action. Unknown names grant nothing.
    pub fn parse_list(list: &str) -> Actions {
        list.split(',')
            .map(str::trim)
            .fold(Actions::NONE, |actions, name| match name {
                "*" => Actions::ALL,
                name => Actions::NAMES
                    .iter()
                    .find(|(_, known)| *known == name)
                    .map_or(actions, |(action, _)| actions.union(*action)),
            })
    }

    pub fn contains(self, other: Actions) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: Actions) -> Actions {
        Actions(self.0 | other.0)
    }

    pub fn intersection(self, other: Actions) -> Actions {
        Actions(self.0 & other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn names(self) -> Vec<String> {
        Actions::NAMES
            .iter()
            .filter(|(action, _)| self.contains(*action))
            .map(|(_, name)| name.to_string())
            .collect()
    }
}

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

pub const REPOSITORY: &str = "repository";
/// `registry:catalog:*`, the scope clients ask for before listing the catalog.
pub const REGISTRY: &str = "registry";
pub const CATALOG: &str = "catalog";

/// One scope of a token request: `type[(class)]:name:action[,action...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub resource_type: String,
    pub name: String,
    pub actions: String,
}

impl Scope {
    /// Names may hold a `host:port`, so the type ends at the first `:` and the actions start
    /// after the last one.
    pub fn parse(scope: &str) -> Result<Scope, AuthError> {
        let invalid = || AuthError::InvalidScope(format!("{scope:?} is not type:name:actions"));
        let (resource_type, rest) = scope.split_once(':').ok_or_else(invalid)?;
        let (name, actions) = rest.rsplit_once(':').ok_or_else(invalid)?;
        if resource_type.is_empty() || name.is_empty() {
            return Err(invalid());
        }
        // The class (`repository(plugin)`) does not change what is granted.
        let resource_type = resource_type
            .split_once('(')
            .map_or(resource_type, |(base, _)| base);
        Ok(Scope {
            resource_type: resource_type.to_string(),
            name: name.to_string(),
            actions: actions.to_string(),
        })
    }
}

/// One entry of a token's `access` claim, as Docker's token specification writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAccess {
    #[serde(rename = "type")]
    pub resource_type: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl ResourceAccess {
    pub fn repository(name: &str, actions: Actions) -> Self {
        ResourceAccess {
            resource_type: REPOSITORY.into(),
            name: name.into(),
            actions: actions.names(),
        }
    }

    pub fn catalog() -> Self {
        ResourceAccess {
            resource_type: REGISTRY.into(),
            name: CATALOG.into(),
            actions: vec!["*".into()],
        }
    }
}

/// Whether a token's `access` claim has an entry for `repository`: whether the token was asked
/// for it, whatever it grants there (a refused scope stays as an entry with no actions).
pub fn requested(access: &[ResourceAccess], repository: &str) -> bool {
    access
        .iter()
        .any(|entry| entry.resource_type == REPOSITORY && entry.name == repository)
}

/// What a token's `access` claim grants on one repository.
pub fn granted(access: &[ResourceAccess], repository: &str) -> Actions {
    access
        .iter()
        .filter(|entry| entry.resource_type == REPOSITORY && entry.name == repository)
        .fold(Actions::NONE, |actions, entry| {
            actions.union(Actions::parse_list(&entry.actions.join(",")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_action_lists() {
        assert_eq!(Actions::parse_list("pull"), Actions::PULL);
        assert_eq!(
            Actions::parse_list("pull,push"),
            Actions::PULL.union(Actions::PUSH)
        );
        assert_eq!(Actions::parse_list("*"), Actions::ALL);
        assert_eq!(Actions::parse_list("pull,metadata-read"), Actions::PULL);
        assert_eq!(Actions::parse_list(""), Actions::NONE);
        assert_eq!(Actions::ALL.to_string(), "pull,push,delete");
    }

    #[test]
    fn parses_scopes_with_ports_and_classes() {
        let scope = Scope::parse("repository:localhost:5000/team/app:pull,push").unwrap();
        assert_eq!(scope.resource_type, "repository");
        assert_eq!(scope.name, "localhost:5000/team/app");
        assert_eq!(scope.actions, "pull,push");
        let scope = Scope::parse("repository(plugin):team/app:pull").unwrap();
        assert_eq!(scope.resource_type, "repository");
        assert_eq!(Scope::parse("registry:catalog:*").unwrap().name, "catalog");
        for bad in [
            "",
            "repository",
            "repository:app",
            ":app:pull",
            "repository::pull",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn access_claims_grant_per_repository() {
        let access = vec![
            ResourceAccess::repository("team/app", Actions::PULL),
            ResourceAccess::repository("team/app", Actions::PUSH),
            ResourceAccess::catalog(),
        ];
        assert_eq!(
            granted(&access, "team/app"),
            Actions::PULL.union(Actions::PUSH)
        );
        assert_eq!(granted(&access, "team/other"), Actions::NONE);
        assert_eq!(granted(&access, "catalog"), Actions::NONE);
    }
}
