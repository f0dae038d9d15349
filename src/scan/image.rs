//! Which manifests are images worth scanning, and their layers in order. Signatures, SBOMs and
//! other artifacts are manifests too; they have no file system to catalogue.

use serde::Deserialize;

const IMAGE_CONFIGS: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];
const INDEXES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// The most layers a scanned image may have: each costs storage calls of one queue job, whose
/// subrequests are bounded. Docker builds at most 127; overlayfs mounts at most about 500.
pub const MAX_LAYERS: usize = 256;

/// One layer of an image, as its manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayer {
    pub media_type: String,
    pub digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<WireDescriptor>,
    #[serde(default)]
    layers: Vec<WireDescriptor>,
    manifests: Option<Vec<serde::de::IgnoredAny>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDescriptor {
    media_type: String,
    digest: String,
    urls: Option<Vec<String>>,
}

/// The layers to read, bottom first, when `manifest` (bytes the registry accepted) is a
/// container image; otherwise why it is not scanned. Foreign layers (with `urls`) are not in
/// the registry and are left out.
pub fn layers(manifest: &[u8]) -> Result<Vec<ImageLayer>, String> {
    let wire: Wire =
        serde_json::from_slice(manifest).map_err(|e| format!("not a manifest: {e}"))?;
    if wire.manifests.is_some()
        || wire
            .media_type
            .as_deref()
            .is_some_and(|t| INDEXES.contains(&t))
    {
        return Err("an image index: each of its images has a scan of its own".to_string());
    }
    let config = wire
        .config
        .ok_or_else(|| "a manifest without a config".to_string())?;
    let kind = wire.artifact_type.as_deref().unwrap_or(&config.media_type);
    if !IMAGE_CONFIGS.contains(&kind) {
        return Err(format!("an artifact of type {kind}, not a container image"));
    }
    let layers: Vec<ImageLayer> = wire
        .layers
        .into_iter()
        .filter(|layer| layer.urls.as_ref().is_none_or(|urls| urls.is_empty()))
        .map(|layer| ImageLayer {
            media_type: layer.media_type,
            digest: layer.digest,
        })
        .collect();
    if layers.len() > MAX_LAYERS {
        return Err(format!(
            "{} layers, more than the {MAX_LAYERS} a scan reads",
            layers.len()
        ));
    }
    if let Some(other) = layers
        .iter()
        .find(|layer| !is_layer_type(&layer.media_type))
    {
        return Err(format!(
            "a layer of type {}, not a file system",
            other.media_type
        ));
    }
    Ok(layers)
}

fn is_layer_type(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.oci.image.layer.")
        || media_type.starts_with("application/vnd.docker.image.rootfs.")
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn manifest(config_type: &str, extra: &str, layer_type: &str) -> Vec<u8> {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
               "config":{{"mediaType":"{config_type}","digest":"{D}","size":2}},
               "layers":[{{"mediaType":"{layer_type}","digest":"{D}","size":3}},
                         {{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar","digest":"{D}","size":3,"urls":["https://example.com"]}}]
               {extra}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn an_image_gives_its_own_layers_in_order() {
        let bytes = manifest(
            IMAGE_CONFIGS[0],
            "",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        );
        assert_eq!(
            layers(&bytes).unwrap(),
            [ImageLayer {
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_string(),
                digest: D.to_string(),
            }]
        );
        let docker = manifest(
            IMAGE_CONFIGS[1],
            "",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        );
        assert_eq!(layers(&docker).unwrap().len(), 1);
    }

    #[test]
    fn artifacts_and_indexes_are_not_images() {
        let sbom = manifest(
            "application/vnd.oci.empty.v1+json",
            r#","artifactType":"application/vnd.cyclonedx+json""#,
            "application/vnd.cyclonedx+json",
        );
        assert!(layers(&sbom).unwrap_err().contains("cyclonedx"));
        // A cosign signature has an image config but no file system in its layer.
        let signature = manifest(
            IMAGE_CONFIGS[0],
            "",
            "application/vnd.dev.cosign.simplesigning.v1+json",
        );
        assert!(layers(&signature).unwrap_err().contains("simplesigning"));
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(layers(index).unwrap_err().contains("index"));
        assert!(layers(b"[]").is_err());
    }

    #[test]
    fn an_image_of_too_many_layers_is_not_scanned() {
        let layer = format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{D}","size":3}}"#
        );
        let manifest = |count: usize| {
            format!(
                r#"{{"schemaVersion":2,"config":{{"mediaType":"{}","digest":"{D}","size":2}},"layers":[{}]}}"#,
                IMAGE_CONFIGS[0],
                vec![layer.as_str(); count].join(",")
            )
        };
        assert_eq!(
            layers(manifest(MAX_LAYERS).as_bytes()).unwrap().len(),
            MAX_LAYERS
        );
        let refused = layers(manifest(MAX_LAYERS + 1).as_bytes()).unwrap_err();
        assert!(refused.contains("257 layers"), "{refused}");
    }
}
