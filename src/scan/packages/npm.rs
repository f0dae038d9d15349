//! npm packages: the `package.json` at the root of each package under a `node_modules`
//! directory (`node_modules/name/` or `node_modules/@scope/name/`); other `package.json` files
//! are applications' own or a package's internals.

use serde::Deserialize;

use super::{Component, Ecosystem};

pub(super) fn is_package_root(path: &str) -> bool {
    let Some((_, inside)) = path.rsplit_once("/node_modules/") else {
        return false;
    };
    let Some(directory) = inside.strip_suffix("/package.json") else {
        return false;
    };
    let plain = |name: &str| !name.is_empty() && !name.starts_with(['.', '@']);
    match directory.split_once('/') {
        None => plain(directory),
        Some((scope, name)) => {
            scope.len() > 1 && scope.starts_with('@') && !name.contains('/') && plain(name)
        }
    }
}

#[derive(Deserialize)]
struct Manifest {
    name: Option<String>,
    version: Option<String>,
}

pub(super) fn parse(bytes: &[u8]) -> Option<Component> {
    let manifest: Manifest = serde_json::from_slice(bytes).ok()?;
    let name = manifest.name.filter(|name| !name.trim().is_empty())?;
    let version = manifest
        .version
        .filter(|version| !version.trim().is_empty())?;
    Some(Component {
        ecosystem: Ecosystem::Npm,
        name,
        version,
        arch: None,
        source: None,
    })
}
