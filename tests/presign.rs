//! The SigV4 presigner against botocore's, byte for byte: the URLs boto3 users make for R2
//! objects, for keys full of characters that need escaping. scripts/test installs botocore
//! (tests/clients/setup) and sets BOTOCORE_PYTHONPATH.

use std::io::Write;
use std::process::{Command, Stdio};

use edge_registry::presign::{Credentials, Signer};

const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
const BUCKET: &str = "edge-registry";
/// 2026-11-26T12:34:56Z
const NOW_MS: u64 = 1_795_696_496_000;

/// Keys with every class of character: unreserved, reserved, spaces, percent signs, unicode.
fn keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "data/0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "blobs/sha256/6a09e667bb67ae853c6ef372a54ff53a",
        "repos/team/app/_manifests/sha256:abc",
        "a b",
        "plus+equals=amp&question?hash#",
        "percent%20already%2Fescaped",
        "tilde~dash-dot.underscore_",
        "!*'();:@$,[]",
        "üñïçødé/日本語/emoji😀",
        "double//slash/",
        "/leading-slash",
        "quote\"back\\slash`caret^pipe|brace{}<>",
    ]
    .iter()
    .map(|k| k.to_string())
    .collect();
    let alphabet: Vec<char> = "aZ09-._~ !\"#$%&'()*+,/:;<=>?@[\\]^`{|}é€😀\t"
        .chars()
        .collect();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for length in 1..=40 {
        let key: String = (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                alphabet[(state % alphabet.len() as u64) as usize]
            })
            .collect();
        keys.push(key);
    }
    keys
}

#[test]
fn matches_botocore_byte_for_byte() {
    let pythonpath = std::env::var("BOTOCORE_PYTHONPATH")
        .expect("BOTOCORE_PYTHONPATH: run this through scripts/test");
    let signer = Signer {
        credentials: Credentials {
            access_key_id: "9f8e7d6c5b4a39281706f5e4d3c2b1a0".into(),
            secret_access_key: "Zm9vYmFyYmF6cXV4/+quuxcorgegraultgarply1234".into(),
        },
        region: "auto".into(),
    };
    let keys = keys();
    let request = serde_json::json!({
        "account": ACCOUNT,
        "bucket": BUCKET,
        "access_key_id": signer.credentials.access_key_id,
        "secret_access_key": signer.credentials.secret_access_key,
        "region": "auto",
        "timestamp": "20261126T123456Z",
        "expires": 300,
        "keys": keys,
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/presign/botocore_urls.py"
    );
    let mut python = Command::new("python3")
        .arg(script)
        .env("PYTHONPATH", pythonpath)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    python
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let output = python.wait_with_output().unwrap();
    assert!(output.status.success(), "botocore failed");
    let expected: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(expected.len(), keys.len());
    let host = format!("{ACCOUNT}.r2.cloudflarestorage.com");
    for (key, expected) in keys.iter().zip(expected) {
        let ours = format!(
            "https://{host}{}",
            signer.presign_get(&host, &format!("/{BUCKET}/{key}"), NOW_MS, 300)
        );
        assert_eq!(ours, expected, "key {key:?}");
    }
}
