//! Paths inside a layer, as the merged view keys them.

/// The absolute form of a tar entry's path: `./a/b`, `a//b/`, `/a/./b` all give `/a/b`, and
/// the root is `/`. `None` for a path no image may hold: one with a `..` component (which
/// could escape the root or alias another path) or a NUL.
pub fn normalise(raw: &str) -> Option<String> {
    if raw.contains('\0') {
        return None;
    }
    let mut normal = String::with_capacity(raw.len() + 1);
    for component in raw.split('/') {
        match component {
            "" | "." => {}
            ".." => return None,
            name => {
                normal.push('/');
                normal.push_str(name);
            }
        }
    }
    if normal.is_empty() {
        normal.push('/');
    }
    Some(normal)
}

/// The directory holding `path` and its last component (`/a/b` gives `/a` and `b`).
pub(super) fn split_parent(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((parent, name)) => (parent, name),
        None => ("/", path),
    }
}

/// `parent/name`, for a normalised `parent`.
pub(super) fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}
