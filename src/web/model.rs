//! What the pages show of manifests and image configs, parsed leniently: they are untrusted
//! documents, and a field of an unexpected shape is shown as absent rather than failing the
//! page. (Pushed manifests were validated by the API; configs never were.)

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::oci::manifest::{DOCKER_MANIFEST_LIST, OCI_INDEX};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ManifestDoc {
    pub media_type: Option<String>,
    pub config: Option<DescriptorDoc>,
    pub layers: Vec<DescriptorDoc>,
    pub manifests: Vec<DescriptorDoc>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DescriptorDoc {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub platform: Option<Platform>,
    pub artifact_type: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// `os/arch` or `os/arch/variant`.
    pub fn label(&self) -> String {
        match self.variant.as_deref().filter(|v| !v.is_empty()) {
            Some(variant) => format!("{}/{}/{variant}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

impl ManifestDoc {
    /// A manifest as far as it parses; nothing of it when it does not.
    pub fn parse(bytes: &[u8]) -> ManifestDoc {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn is_index(&self, content_type: Option<&str>) -> bool {
        let media_type = self.media_type.as_deref().or(content_type);
        matches!(media_type, Some(OCI_INDEX | DOCKER_MANIFEST_LIST)) || !self.manifests.is_empty()
    }

    /// An index's children that are platform images: not attestations and other artifacts
    /// that buildx lists with the platform `unknown/unknown`.
    pub fn platform_images(&self) -> impl Iterator<Item = &DescriptorDoc> {
        self.manifests
            .iter()
            .filter(|child| child.platform.as_ref().is_none_or(|p| p.os != "unknown"))
    }

    /// An image's compressed size: its config and layers.
    pub fn image_size(&self) -> u64 {
        let config = self.config.as_ref().map_or(0, |c| c.size);
        self.layers
            .iter()
            .fold(config, |sum, layer| sum.saturating_add(layer.size))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConfigDoc {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub created: Option<String>,
    pub config: Option<RunConfig>,
    pub history: Vec<History>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RunConfig {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Option<Vec<String>>,
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct History {
    pub created: Option<String>,
    pub created_by: Option<String>,
    pub comment: Option<String>,
    pub empty_layer: Option<bool>,
}

impl ConfigDoc {
    pub fn parse(bytes: &[u8]) -> ConfigDoc {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn platform(&self) -> Option<Platform> {
        (!self.os.is_empty() || !self.architecture.is_empty()).then(|| Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
        })
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default()
    }
}

/// `text` cut to at most `max` characters (never inside one), with an ellipsis if cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// Whether `text` is an http(s) URL, the only kind the pages link to.
pub fn is_web_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|url| matches!(url.scheme(), "http" | "https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_documents_parse_leniently() {
        let doc = ManifestDoc::parse(br#"{"layers": "nope"}"#);
        assert!(doc.layers.is_empty());
        let config = ConfigDoc::parse(
            br#"{"os":"linux","architecture":"arm","variant":"v7","config":{"Labels":null}}"#,
        );
        assert_eq!(config.platform().unwrap().label(), "linux/arm/v7");
        assert!(config.labels().is_empty());
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("ééé", 2), "éé…");
        assert_eq!(truncate("ab", 2), "ab");
        assert!(is_web_url("https://example.com/x"));
        assert!(!is_web_url("javascript:alert(1)"));
        assert!(!is_web_url("/relative"));
    }
}
