//! The `oci-client` crate, a Rust registry client, against the running worker: a chunked
//! push and a monolithic push, each pulled back and compared. scripts/test sets REGISTRY_URL.

mod common;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::IMAGE_LAYER_MEDIA_TYPE;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use common::data;

fn registry_host() -> String {
    let url = std::env::var("REGISTRY_URL").expect("REGISTRY_URL: run these through scripts/test");
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

async fn round_trip(monolithic: bool, repository: &str) {
    // Either test may install it first; the second attempt's refusal is expected.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        use_monolithic_push: monolithic,
        ..ClientConfig::default()
    });
    let reference: Reference = format!("{}/{repository}:v1", registry_host())
        .parse()
        .unwrap();
    // One layer above the test worker's 5 MiB part size, so that it crosses parts.
    let layers = vec![
        ImageLayer::oci_v1(data(6 * 1024 * 1024 + 11, 1), None),
        ImageLayer::oci_v1(data(1000, 2), None),
    ];
    let config = Config::oci_v1(
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec(),
        None,
    );
    let auth = RegistryAuth::Anonymous;
    let pushed = client
        .push(&reference, &layers, config.clone(), &auth, None)
        .await
        .expect("push");
    assert!(pushed.manifest_url.contains(repository));

    let image = client
        .pull(&reference, &auth, vec![IMAGE_LAYER_MEDIA_TYPE])
        .await
        .expect("pull");
    // oci-client downloads layers concurrently and returns them in completion order.
    let mut pulled: Vec<_> = image.layers.iter().map(|l| l.data.clone()).collect();
    let mut expected: Vec<_> = layers.iter().map(|l| l.data.clone()).collect();
    pulled.sort();
    expected.sort();
    assert!(pulled == expected, "layer bytes differ");
    assert_eq!(image.config.data, config.data);
    let tags = client
        .list_tags(&reference, &auth, None, None)
        .await
        .expect("tags");
    assert_eq!(tags.tags, ["v1"]);
}

#[tokio::test]
async fn chunked_push_and_pull() {
    round_trip(false, "oci-client/chunked").await;
}

#[tokio::test]
async fn monolithic_push_and_pull() {
    round_trip(true, "oci-client/monolithic").await;
}
