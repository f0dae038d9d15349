//! Alpine's installed database, `/lib/apk/db/installed`: `X:value` lines (`P:` name, `V:`
//! version, `A:` architecture, `o:` origin), a blank line between packages.

use super::{Component, Ecosystem, SourcePackage};

pub(super) fn parse(text: &str) -> Vec<Component> {
    let mut components = Vec::new();
    let mut current = Fields::default();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            components.extend(std::mem::take(&mut current).component());
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let slot = match key {
            "P" => &mut current.name,
            "V" => &mut current.version,
            "A" => &mut current.arch,
            "o" => &mut current.origin,
            _ => continue,
        };
        if slot.is_none() && !value.is_empty() {
            *slot = Some(value);
        }
    }
    components
}

#[derive(Default)]
struct Fields<'a> {
    name: Option<&'a str>,
    version: Option<&'a str>,
    arch: Option<&'a str>,
    origin: Option<&'a str>,
}

impl Fields<'_> {
    fn component(self) -> Option<Component> {
        let name = self.name?;
        let version = self.version?;
        Some(Component {
            ecosystem: Ecosystem::Apk,
            name: name.to_owned(),
            version: version.to_owned(),
            arch: self.arch.map(str::to_owned),
            // An origin has no version of its own: the subpackages share the origin's.
            source: Some(SourcePackage {
                name: self.origin.unwrap_or(name).to_owned(),
                version: version.to_owned(),
            }),
        })
    }
}
