//! The `oci-client` crate, a Rust registry client, against the running worker: a chunked
//! push and a monolithic push with a user's password (through the token flow), each pulled
//! back anonymously and compared; an anonymous pull of a private repository is refused.
//! scripts/test sets REGISTRY_URL and starts the worker with the users of tests/access.env.

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

fn client(monolithic: bool) -> Client {
    // Either test may install it first; the second attempt's refusal is expected.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        use_monolithic_push: monolithic,
        ..ClientConfig::default()
    })
}

fn pusher() -> RegistryAuth {
    RegistryAuth::Basic("pusher".into(), "pusher-password".into())
}

async fn round_trip(monolithic: bool, repository: &str) {
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
    let anonymous = client(monolithic)
        .push(
            &reference,
            &layers,
            config.clone(),
            &RegistryAuth::Anonymous,
            None,
        )
        .await;
    assert!(anonymous.is_err(), "an anonymous push went through");
    let pushed = client(monolithic)
        .push(&reference, &layers, config.clone(), &pusher(), None)
        .await
        .expect("push");
    assert!(pushed.manifest_url.contains(repository));

    let client = client(monolithic);
    let auth = RegistryAuth::Anonymous;
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
    round_trip(false, "team/oci-client-chunked").await;
}

#[tokio::test]
async fn monolithic_push_and_pull() {
    round_trip(true, "team/oci-client-monolithic").await;
}

#[tokio::test]
async fn private_repositories_need_credentials() {
    let reference: Reference = format!("{}/private/oci-client:v1", registry_host())
        .parse()
        .unwrap();
    let layers = vec![ImageLayer::oci_v1(data(2000, 3), None)];
    let config = Config::oci_v1(br#"{"architecture":"amd64","os":"linux"}"#.to_vec(), None);
    client(false)
        .push(&reference, &layers, config, &pusher(), None)
        .await
        .expect("push");
    let media_types = vec![IMAGE_LAYER_MEDIA_TYPE];
    let anonymous = client(false)
        .pull(&reference, &RegistryAuth::Anonymous, media_types.clone())
        .await;
    assert!(
        anonymous.is_err(),
        "an anonymous pull of a private image went through"
    );
    let image = client(false)
        .pull(&reference, &pusher(), media_types)
        .await
        .expect("pull with credentials");
    assert_eq!(image.layers[0].data, layers[0].data);
}
