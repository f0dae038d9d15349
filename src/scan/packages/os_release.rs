//! os-release(5): `/etc/os-release`, `/usr/lib/os-release`. Shell-style `KEY=value` lines,
//! values optionally quoted.

use super::Os;

pub(super) fn parse(text: &str) -> Option<Os> {
    let mut id = None;
    let mut version_id = None;
    let mut version_codename = None;
    let mut pretty_name = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let slot = match key.trim() {
            "ID" => &mut id,
            "VERSION_ID" => &mut version_id,
            "VERSION_CODENAME" => &mut version_codename,
            "PRETTY_NAME" => &mut pretty_name,
            _ => continue,
        };
        *slot = Some(unquote(value)).filter(|value| !value.is_empty());
    }
    if id.is_none() && version_id.is_none() && pretty_name.is_none() {
        return None;
    }
    Some(Os {
        // os-release(5): "If not set, a default of ID=linux may be used."
        id: id.unwrap_or_else(|| "linux".to_owned()),
        version_id,
        version_codename,
        pretty_name,
    })
}

/// A shell-style value: quotes removed, backslash escapes resolved (none in single quotes).
fn unquote(value: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    let mut chars = value.trim().chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), _) if c == open => quote = None,
            (Some('\''), _) => out.push(c),
            (_, '\\') => out.extend(chars.next()),
            _ => out.push(c),
        }
    }
    out
}
