//! A repository's manifests and what they refer to, and which of them stay.
//!
//! Manifests are immutable, so what each refers to is read once and kept (`gc/repos/<name>`):
//! a collection reads only the manifests pushed since the last one.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::oci::manifest::Manifest;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RepoGraph {
    /// By digest (`alg:hex`).
    pub manifests: BTreeMap<String, Node>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub uploaded_ms: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blobs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl Node {
    pub fn new(manifest: &Manifest, uploaded_ms: u64) -> Node {
        let strings =
            |digests: &[crate::oci::Digest]| digests.iter().map(|d| d.to_string()).collect();
        Node {
            uploaded_ms,
            blobs: strings(&manifest.blobs),
            children: strings(&manifest.children),
            subject: manifest.subject.as_ref().map(|d| d.to_string()),
        }
    }
}

/// What decides a manifest's fate besides the graph.
pub struct Roots<'a> {
    /// Digests the repository's kept tags point at.
    pub tagged: &'a BTreeSet<String>,
    pub now_ms: u64,
    /// Nothing younger is ever deleted: it may be part of a push still under way.
    pub grace_ms: u64,
    /// From the retention rule: unreferenced untagged manifests older than this go.
    pub untagged_max_age_ms: Option<u64>,
}

impl RepoGraph {
    /// The manifests that stay. Roots are the tagged manifests, every manifest younger than
    /// the grace period and, unless the retention rule limits their age, every untagged one.
    /// An index keeps its children, and a kept manifest keeps its referrers (signatures,
    /// SBOMs, ...); a referrer whose subject goes, goes with it.
    pub fn live(&self, roots: &Roots) -> BTreeSet<String> {
        let age = |node: &Node| roots.now_ms.saturating_sub(node.uploaded_ms);
        let is_root = |(digest, node): &(&String, &Node)| {
            if roots.tagged.contains(*digest) || age(node) < roots.grace_ms {
                return true;
            }
            node.subject.is_none()
                && roots
                    .untagged_max_age_ms
                    .is_none_or(|max| age(node) < max.max(roots.grace_ms))
        };
        let mut referrers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (digest, node) in &self.manifests {
            if let Some(subject) = &node.subject {
                referrers.entry(subject).or_default().push(digest);
            }
        }
        let mut live = BTreeSet::new();
        let mut pending: Vec<&str> = self
            .manifests
            .iter()
            .filter(is_root)
            .map(|(digest, _)| digest.as_str())
            .collect();
        while let Some(digest) = pending.pop() {
            if !live.insert(digest.to_string()) {
                continue;
            }
            if let Some(node) = self.manifests.get(digest) {
                pending.extend(node.children.iter().map(String::as_str));
            }
            pending.extend(referrers.get(digest).into_iter().flatten());
        }
        live.retain(|digest| self.manifests.contains_key(digest));
        live
    }

    /// The manifests that list each manifest as a child.
    pub fn parents(&self) -> BTreeMap<String, Vec<String>> {
        let mut parents: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (digest, node) in &self.manifests {
            for child in &node.children {
                parents
                    .entry(child.clone())
                    .or_default()
                    .push(digest.clone());
            }
        }
        parents
    }

    /// `dead` in levels, each manifest in a level after every one of `dead` that lists it as
    /// a child: the order to delete them in.
    pub fn parents_first(&self, dead: &BTreeSet<String>) -> Vec<Vec<String>> {
        let parents = self.parents();
        let mut remaining: BTreeSet<&String> = dead.iter().collect();
        let mut levels = Vec::new();
        while !remaining.is_empty() {
            let has_dead_parent = |digest: &String| {
                parents
                    .get(digest)
                    .is_some_and(|ps| ps.iter().any(|p| remaining.contains(p)))
            };
            let mut level: Vec<String> = remaining
                .iter()
                .filter(|d| !has_dead_parent(d))
                .map(|d| d.to_string())
                .collect();
            // Digests cannot form a cycle; a graph that claims one is cut where it is.
            if level.is_empty() {
                level = remaining.iter().map(|d| d.to_string()).collect();
            }
            for digest in &level {
                remaining.remove(digest);
            }
            levels.push(level);
        }
        levels
    }

    /// Every blob the manifests refer to.
    pub fn blobs(&self) -> BTreeSet<&str> {
        self.manifests
            .values()
            .flat_map(|node| node.blobs.iter().map(String::as_str))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: u64 = 1_000;
    const NOW: u64 = 1_000_000;
    const OLD: u64 = NOW - 10 * GRACE;

    fn node(blobs: &[&str], children: &[&str], subject: Option<&str>, uploaded_ms: u64) -> Node {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        Node {
            uploaded_ms,
            blobs: owned(blobs),
            children: owned(children),
            subject: subject.map(str::to_string),
        }
    }

    fn graph(nodes: &[(&str, Node)]) -> RepoGraph {
        RepoGraph {
            manifests: nodes
                .iter()
                .map(|(d, n)| (d.to_string(), n.clone()))
                .collect(),
        }
    }

    fn live(graph: &RepoGraph, tagged: &[&str], untagged_max_age_ms: Option<u64>) -> Vec<String> {
        let tagged = tagged.iter().map(|s| s.to_string()).collect();
        let roots = Roots {
            tagged: &tagged,
            now_ms: NOW,
            grace_ms: GRACE,
            untagged_max_age_ms,
        };
        graph.live(&roots).into_iter().collect()
    }

    #[test]
    fn untagged_manifests_stay_unless_the_rule_limits_their_age() {
        let g = graph(&[
            ("tagged", node(&["l1"], &[], None, OLD)),
            ("untagged", node(&["l2"], &[], None, OLD)),
        ]);
        assert_eq!(live(&g, &["tagged"], None), ["tagged", "untagged"]);
        assert_eq!(live(&g, &["tagged"], Some(0)), ["tagged"]);
        assert_eq!(
            live(&g, &["tagged"], Some(20 * GRACE)),
            ["tagged", "untagged"]
        );
    }

    #[test]
    fn the_grace_period_protects_pushes_under_way() {
        let g = graph(&[("child", node(&["l"], &[], None, NOW - GRACE / 2))]);
        assert_eq!(live(&g, &[], Some(0)), ["child"]);
    }

    #[test]
    fn indexes_keep_their_children_and_manifests_their_referrers() {
        let g = graph(&[
            ("index", node(&[], &["amd64", "arm64"], None, OLD)),
            ("amd64", node(&["a"], &[], None, OLD)),
            ("arm64", node(&["b"], &[], None, OLD)),
            ("sig", node(&["s"], &[], Some("index"), OLD)),
            ("sbom-of-sig", node(&["t"], &[], Some("sig"), OLD)),
            ("dangling", node(&["d"], &[], Some("deleted"), OLD)),
            ("orphan", node(&["o"], &[], None, OLD)),
        ]);
        assert_eq!(
            live(&g, &["index"], Some(0)),
            ["amd64", "arm64", "index", "sbom-of-sig", "sig"]
        );
        // Without an age limit untagged manifests stay, but referrers still follow their subject.
        assert_eq!(
            live(&g, &["index"], None),
            ["amd64", "arm64", "index", "orphan", "sbom-of-sig", "sig"]
        );
        // A tag on a missing manifest keeps nothing.
        assert!(live(&g, &["missing"], Some(0)).is_empty());
    }

    #[test]
    fn parents_go_before_their_children() {
        let g = graph(&[
            ("index", node(&[], &["nested", "amd64"], None, OLD)),
            ("nested", node(&[], &["arm64"], None, OLD)),
            ("amd64", node(&["a"], &[], None, OLD)),
            ("arm64", node(&["b"], &[], None, OLD)),
            ("other", node(&["c"], &[], None, OLD)),
        ]);
        let dead: BTreeSet<String> = ["amd64", "arm64", "index", "nested", "other"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            g.parents_first(&dead),
            [
                vec!["index".to_string(), "other".to_string()],
                vec!["amd64".to_string(), "nested".to_string()],
                vec!["arm64".to_string()],
            ]
        );
        assert_eq!(g.parents()["arm64"], ["nested"]);
    }

    #[test]
    fn blobs_are_those_of_every_manifest() {
        let g = graph(&[
            ("m1", node(&["a", "b"], &[], None, OLD)),
            ("m2", node(&["b", "c"], &[], None, OLD)),
        ]);
        assert_eq!(g.blobs().into_iter().collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}
