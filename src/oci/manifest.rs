//! Manifest parsing: just enough to validate a pushed manifest and learn what it refers to.
//! The registry always stores and serves the bytes exactly as the client sent them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Digest, OciError};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Manifests of at least 4 MB must be accepted (the spec); 4 MiB is that with room to spare,
/// and far above any realistic manifest.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    Index,
}

/// What the registry needs to know about a manifest it accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub media_type: String,
    pub kind: Kind,
    /// Blobs that must be in the repository: the config and every layer except foreign ones.
    pub blobs: Vec<Digest>,
    /// Manifests an index lists, which must be in the repository.
    pub children: Vec<Digest>,
    pub subject: Option<Digest>,
    /// The artifact type a referrers listing shows: `artifactType`, else the config media type.
    pub artifact_type: Option<String>,
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    schema_version: Option<u32>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<WireDescriptor>,
    layers: Option<Vec<WireDescriptor>>,
    manifests: Option<Vec<WireDescriptor>>,
    subject: Option<WireDescriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDescriptor {
    media_type: String,
    digest: String,
    // Never read, but required: deserialising checks every descriptor has a valid size.
    #[allow(dead_code)]
    size: u64,
    urls: Option<Vec<String>>,
}

/// A descriptor as a referrers index lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The media type without parameters such as `; charset=utf-8`.
fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

pub fn is_manifest_type(media_type: &str) -> bool {
    matches!(
        essence(media_type),
        OCI_MANIFEST | OCI_INDEX | DOCKER_MANIFEST | DOCKER_MANIFEST_LIST
    )
}

/// Parses and validates `bytes`. The body's `mediaType` decides the type; without one, the
/// request's Content-Type does (some clients push manifests with no `mediaType`).
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, OciError> {
    let invalid = |why: String| OciError::InvalidManifest(why);
    let wire: Wire =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("not a manifest: {e}")))?;
    if wire.schema_version != Some(2) {
        return Err(invalid("schemaVersion must be 2".into()));
    }
    let header_type = content_type.map(essence).filter(|t| is_manifest_type(t));
    let media_type = match (wire.media_type.as_deref(), header_type) {
        (Some(body), Some(header)) if body != header => {
            return Err(invalid(format!(
                "mediaType {body} does not match Content-Type {header}"
            )))
        }
        (Some(body), _) => body.to_string(),
        (None, Some(header)) => header.to_string(),
        (None, None) => {
            return Err(invalid(format!(
                "no mediaType in the body and Content-Type {:?} is not a manifest type",
                content_type.unwrap_or("")
            )))
        }
    };
    let kind = match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => Kind::Image,
        OCI_INDEX | DOCKER_MANIFEST_LIST => Kind::Index,
        other => return Err(invalid(format!("unsupported manifest media type {other}"))),
    };
    let digest_of = |d: &WireDescriptor| -> Result<Digest, OciError> {
        d.digest
            .parse()
            .map_err(|_| invalid(format!("descriptor digest {:?} is invalid", d.digest)))
    };

    let mut blobs = Vec::new();
    let mut children = Vec::new();
    let mut artifact_type = wire.artifact_type.clone();
    match kind {
        Kind::Image => {
            let config = wire
                .config
                .as_ref()
                .ok_or_else(|| invalid("an image manifest needs a config".into()))?;
            blobs.push(digest_of(config)?);
            for layer in wire.layers.as_deref().unwrap_or_default() {
                let digest = digest_of(layer)?;
                // Foreign (non-distributable) layers live elsewhere, named by their urls.
                if layer.urls.as_ref().is_none_or(|urls| urls.is_empty()) {
                    blobs.push(digest);
                }
            }
            artifact_type = artifact_type.or_else(|| Some(config.media_type.clone()));
        }
        Kind::Index => {
            let manifests = wire
                .manifests
                .as_ref()
                .ok_or_else(|| invalid("an index needs manifests".into()))?;
            for child in manifests {
                children.push(digest_of(child)?);
            }
        }
    }
    let subject = wire.subject.as_ref().map(digest_of).transpose()?;
    Ok(Manifest {
        media_type,
        kind,
        blobs,
        children,
        subject,
        artifact_type,
        annotations: wire.annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
              "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},
              "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":3}},
                        {{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar","digest":"{}","size":3,"urls":["https://example.com/l"]}}]
              {extra}}}"#,
            digest('a'),
            digest('b'),
            digest('c')
        )
    }

    #[test]
    fn image_manifest_lists_config_and_own_layers() {
        let m = parse(image("").as_bytes(), None).unwrap();
        assert_eq!(m.kind, Kind::Image);
        let blobs: Vec<String> = m.blobs.iter().map(ToString::to_string).collect();
        assert_eq!(blobs, [digest('a'), digest('b')]);
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
        assert_eq!(m.subject, None);
    }

    #[test]
    fn subject_artifact_type_and_annotations_are_read() {
        let extra = format!(
            r#","artifactType":"application/example","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1}},"annotations":{{"k":"v"}}"#,
            digest('d')
        );
        let m = parse(image(&extra).as_bytes(), None).unwrap();
        assert_eq!(m.subject.unwrap().to_string(), digest('d'));
        assert_eq!(m.artifact_type.as_deref(), Some("application/example"));
        assert_eq!(m.annotations.unwrap()["k"], "v");
    }

    #[test]
    fn index_lists_children() {
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":5}}]}}"#,
            digest('e')
        );
        let m = parse(body.as_bytes(), Some(OCI_INDEX)).unwrap();
        assert_eq!(m.kind, Kind::Index);
        assert_eq!(m.media_type, OCI_INDEX);
        assert_eq!(m.children.len(), 1);
    }

    #[test]
    fn media_type_comes_from_content_type_when_the_body_has_none() {
        let body = image("").replace(&format!(r#""mediaType":"{OCI_MANIFEST}","#), "");
        let m = parse(
            body.as_bytes(),
            Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"),
        )
        .unwrap();
        assert_eq!(m.media_type, DOCKER_MANIFEST);
        assert!(parse(body.as_bytes(), Some("application/json")).is_err());
    }

    #[test]
    fn rejects_invalid_manifests() {
        let cases = [
            "not json".to_string(),
            r#"{"schemaVersion":1}"#.to_string(),
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}"}}"#),
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.layer.v1.tar"}"#
                .to_string(),
            image("").replace(&digest('b'), "sha256:nothex"),
        ];
        for body in cases {
            assert!(
                matches!(
                    parse(body.as_bytes(), None),
                    Err(OciError::InvalidManifest(_))
                ),
                "{body}"
            );
        }
        assert!(
            parse(image("").as_bytes(), Some(OCI_INDEX)).is_err(),
            "body and header disagree"
        );
    }
}
