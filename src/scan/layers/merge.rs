//! The image's file system as its layers leave it, for the files the caller wants.
//!
//! Rules, applied in layer order (the OCI image spec's "Applying changesets"):
//! - a regular file replaces whatever an earlier layer had at its path, and a file, symlink
//!   or device replacing a directory removes everything below it too;
//! - `.wh.<name>` deletes `<name>` from the earlier layers, and everything below it;
//! - `.wh..wh..opq` deletes everything below its directory from the earlier layers;
//! - whiteouts never touch entries of their own layer;
//! - a hard link at a wanted path takes what was kept of its target (earlier in its layer,
//!   as tar requires, or in an earlier layer): the target is parsed once, at its own path;
//! - symlinks are not followed: one at a wanted path hides what was there, nothing more;
//! - a wanted file larger than its cap, or that `parse` declines, hides what was there.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::path::{join, split_parent};
use super::{Compression, EntryKind, EntryVisitor, LayerReader, Limits};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

type Wanted = Box<dyn Fn(&str) -> Option<usize>>;
type Parse<T> = Box<dyn Fn(&str, &[u8]) -> Option<T>>;

/// The wanted files of an image, path to what `parse` kept of each.
pub struct Merged<T> {
    wanted: Wanted,
    parse: Parse<T>,
    files: BTreeMap<String, T>,
}

impl<T: Clone> Merged<T> {
    /// `wanted(path)` gives the byte cap of a file worth reading (`None` to skip it);
    /// `parse(path, content)` what to keep of it (`None` to keep nothing).
    pub fn new(
        wanted: impl Fn(&str) -> Option<usize> + 'static,
        parse: impl Fn(&str, &[u8]) -> Option<T> + 'static,
    ) -> Merged<T> {
        Merged {
            wanted: Box::new(wanted),
            parse: Box::new(parse),
            files: BTreeMap::new(),
        }
    }

    /// A reader for the next layer. Its changes apply when the caller commits what
    /// [`LayerReader::finish`] returns; a layer that fails changes nothing.
    pub fn layer(
        &mut self,
        compression: Compression,
        limits: Limits,
    ) -> LayerReader<LayerChanges<'_, T>> {
        let changes = LayerChanges {
            merged: self,
            removed: Vec::new(),
            emptied: Vec::new(),
            added: BTreeMap::new(),
        };
        LayerReader::new(compression, limits, changes)
    }

    pub fn files(&self) -> &BTreeMap<String, T> {
        &self.files
    }

    pub fn into_files(self) -> BTreeMap<String, T> {
        self.files
    }

    fn has_below(&self, dir: &str) -> bool {
        self.below(dir).next().is_some()
    }

    /// The paths strictly below `dir`: those starting `dir/` (which sort together, while
    /// siblings like `dir.txt` sort between `dir` and them).
    fn below(&self, dir: &str) -> impl Iterator<Item = &String> + '_ {
        let prefix = if dir == "/" {
            dir.to_owned()
        } else {
            format!("{dir}/")
        };
        self.files
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .map(|(path, _)| path)
            .take_while(move |path| path.starts_with(&prefix))
    }
}

/// What one layer changes, kept until the layer has been read whole.
pub struct LayerChanges<'m, T> {
    merged: &'m mut Merged<T>,
    /// Paths deleted, with everything below them.
    removed: Vec<String>,
    /// Directories whose earlier content is deleted.
    emptied: Vec<String>,
    /// This layer's entries at wanted or earlier-kept paths: `None` hides the earlier one.
    added: BTreeMap<String, Option<T>>,
}

impl<T: Clone> LayerChanges<'_, T> {
    /// Applies the layer to the merged view.
    pub fn commit(self) {
        for dir in &self.emptied {
            let below: Vec<String> = self.merged.below(dir).cloned().collect();
            for path in below {
                self.merged.files.remove(&path);
            }
        }
        for path in &self.removed {
            let below: Vec<String> = self.merged.below(path).cloned().collect();
            for below in below {
                self.merged.files.remove(&below);
            }
            self.merged.files.remove(path);
        }
        for (path, value) in self.added {
            match value {
                Some(value) => self.merged.files.insert(path, value),
                None => self.merged.files.remove(&path),
            };
        }
    }

    fn set(&mut self, path: &str, value: Option<T>) {
        if value.is_some() || self.merged.files.contains_key(path) {
            self.added.insert(path.to_owned(), value);
        } else {
            self.added.remove(path);
        }
    }
}

impl<T: Clone> EntryVisitor for LayerChanges<'_, T> {
    fn wanted(&mut self, path: &str) -> Option<usize> {
        (self.merged.wanted)(path)
    }

    fn entry(&mut self, path: &str, kind: EntryKind<'_>) {
        if path == "/" {
            return;
        }
        let (parent, name) = split_parent(path);
        if name == OPAQUE {
            if self.merged.has_below(parent) {
                self.emptied.push(parent.to_owned());
            }
            return;
        }
        if let Some(deleted) = name.strip_prefix(WHITEOUT) {
            let deleted = join(parent, deleted);
            if self.merged.files.contains_key(&deleted) || self.merged.has_below(&deleted) {
                self.removed.push(deleted);
            }
            return;
        }
        if kind != EntryKind::Directory && self.merged.has_below(path) {
            self.emptied.push(path.to_owned());
        }
        let value = match kind {
            EntryKind::File(Some(content)) => (self.merged.parse)(path, content),
            EntryKind::HardLink(target) if (self.merged.wanted)(path).is_some() => {
                match self.added.get(target) {
                    Some(value) => value.clone(),
                    None => self.merged.files.get(target).cloned(),
                }
            }
            _ => None,
        };
        self.set(path, value);
    }
}
