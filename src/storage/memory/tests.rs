use futures::executor::block_on;

use super::*;

#[test]
fn conditional_puts_behave_like_r2() {
    block_on(async {
        let store = MemoryStore::new();
        let create = PutOptions {
            mode: PutMode::CreateOnly,
            ..PutOptions::default()
        };
        let first = ObjectStore::put(&store, "k", b"1".to_vec(), create.clone())
            .await
            .unwrap()
            .unwrap();
        assert!(ObjectStore::put(&store, "k", b"2".to_vec(), create)
            .await
            .unwrap()
            .is_none());
        let swap = |etag: &str| PutOptions {
            mode: PutMode::IfEtag(etag.into()),
            ..PutOptions::default()
        };
        let second = ObjectStore::put(&store, "k", b"3".to_vec(), swap(&first.etag))
            .await
            .unwrap()
            .unwrap();
        assert!(
            ObjectStore::put(&store, "k", b"4".to_vec(), swap(&first.etag))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store.get_bytes("k").await.unwrap().unwrap().0.etag,
            second.etag
        );
    });
}

#[test]
fn list_respects_prefix_start_after_and_limit() {
    block_on(async {
        let store = MemoryStore::new();
        for key in ["a/1", "a/2", "a/3", "b/1", "a0"] {
            ObjectStore::put(&store, key, vec![], PutOptions::default())
                .await
                .unwrap();
        }
        let options = ListOptions {
            prefix: "a/".into(),
            limit: 2,
            ..ListOptions::default()
        };
        let page = store.list(&options).await.unwrap();
        let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!((keys, page.truncated), (vec!["a/1", "a/2"], true));
        let options = ListOptions {
            start_after: Some("a/2".into()),
            ..options
        };
        let page = store.list(&options).await.unwrap();
        let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!((keys, page.truncated), (vec!["a/3"], false));
    });
}

#[test]
fn multipart_enforces_equal_parts() {
    block_on(async {
        let store = MemoryStore::with_min_part(4);
        let id = store.create_multipart("o").await.unwrap();
        let e1 = store.upload_part("o", &id, 1, vec![1; 4]).await.unwrap();
        let e2 = store.upload_part("o", &id, 2, vec![2; 5]).await.unwrap();
        assert!(store.complete_multipart("o", &id, &[e1, e2]).await.is_err());
        let id = store.create_multipart("o").await.unwrap();
        let e1 = store.upload_part("o", &id, 1, vec![1; 4]).await.unwrap();
        let e2 = store.upload_part("o", &id, 2, vec![2; 3]).await.unwrap();
        store.complete_multipart("o", &id, &[e1, e2]).await.unwrap();
        assert_eq!(
            store.get_bytes("o").await.unwrap().unwrap().1,
            [1, 1, 1, 1, 2, 2, 2]
        );
    });
}
