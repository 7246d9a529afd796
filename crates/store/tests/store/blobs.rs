//! Blobs: writing through the ingest area, verification on read, cleanup of abandoned writes.

use std::io::{ErrorKind, Read, Write};

use hearth_core::Digest;
use hearth_store::{ErrorKind as StoreErrorKind, StoreError};

use crate::support::{names, open};

#[test]
fn blob_round_trip_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let content: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected = Digest::of(&content);

    let mut writer = store.blob_writer().unwrap();
    for chunk in content.chunks(7_777) {
        writer.write_all(chunk).unwrap();
    }
    assert_eq!(writer.size(), 1_000_000);
    // The content is invisible until commit.
    assert!(!store.has_blob(&expected).unwrap());
    assert_eq!(
        writer.commit(Some(&expected)).unwrap(),
        (expected, 1_000_000)
    );

    assert!(store.has_blob(&expected).unwrap());
    assert_eq!(store.blob_size(&expected).unwrap(), 1_000_000);
    assert_eq!(store.read_blob(&expected).unwrap(), content);
    let mut reader = store.open_blob(&expected).unwrap();
    assert_eq!(reader.size(), 1_000_000);
    let mut streamed = Vec::new();
    reader.read_to_end(&mut streamed).unwrap();
    assert_eq!(streamed, content);
    assert_eq!(
        store.blob_path(&expected),
        dir.path().join("v1/blobs/sha256").join(expected.hex())
    );
    assert_eq!(std::fs::read(store.blob_path(&expected)).unwrap(), content);
    assert_eq!(names(&store.tmp_dir()), Vec::<String>::new());

    let small = store.put_blob(b"hello").unwrap();
    assert_eq!(small, Digest::of(b"hello"));
    assert_eq!(store.read_blob(&small).unwrap(), b"hello");
    let mut digests = store.blob_digests().unwrap();
    digests.sort();
    let mut want = vec![expected, small];
    want.sort();
    assert_eq!(digests, want);
}

#[test]
fn commit_with_the_wrong_digest_fails_and_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let wrong = Digest::of(b"something else");
    let mut writer = store.blob_writer().unwrap();
    writer.write_all(b"actual content").unwrap();
    let err = writer.commit(Some(&wrong)).unwrap_err();
    let StoreError::DigestMismatch { expected, actual } = &err else {
        panic!("expected DigestMismatch, got {err:?}");
    };
    assert_eq!(*expected, wrong);
    assert_eq!(*actual, Digest::of(b"actual content"));
    assert_eq!(err.kind(), StoreErrorKind::InvalidArgument);
    assert_eq!(
        err.to_string(),
        format!(
            "content digest mismatch: expected {wrong}, got {}",
            Digest::of(b"actual content")
        )
    );
    assert!(!store.has_blob(&Digest::of(b"actual content")).unwrap());
    assert_eq!(names(&store.tmp_dir()), Vec::<String>::new());
    assert_eq!(names(&store.layout().blobs_dir()), Vec::<String>::new());
}

#[test]
fn dropped_writer_leaves_nothing_in_tmp() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut writer = store.blob_writer().unwrap();
    writer.write_all(&[1u8; 300_000]).unwrap();
    writer.flush().unwrap();
    assert_eq!(names(&store.tmp_dir()).len(), 1);
    drop(writer);
    assert_eq!(names(&store.tmp_dir()), Vec::<String>::new());
    assert_eq!(names(&store.layout().blobs_dir()), Vec::<String>::new());
}

#[test]
fn corruption_is_detected_by_read_blob_and_by_the_reader_at_eof() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let content = vec![42u8; 100_000];
    let digest = store.put_blob(&content).unwrap();
    let path = store.blob_path(&digest);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[50_000] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let err = store.read_blob(&digest).unwrap_err();
    let StoreError::Corrupt { digest: d, path: p } = &err else {
        panic!("expected Corrupt, got {err:?}");
    };
    assert_eq!((*d, p.clone()), (digest, path.clone()));
    assert_eq!(err.kind(), StoreErrorKind::DataLoss);

    let mut reader = store.open_blob(&digest).unwrap();
    let mut out = Vec::new();
    let io_err = reader.read_to_end(&mut out).unwrap_err();
    assert_eq!(io_err.kind(), ErrorKind::InvalidData);
    let inner = io_err
        .get_ref()
        .and_then(|e| e.downcast_ref::<StoreError>())
        .expect("a StoreError inside");
    assert!(
        matches!(inner, StoreError::Corrupt { digest: d, path: p } if *d == digest && *p == path),
        "{inner:?}"
    );
    // Reading on does not turn the corruption into a clean end of file.
    let mut buf = [0u8; 16];
    assert_eq!(
        reader.read(&mut buf).unwrap_err().kind(),
        ErrorKind::InvalidData
    );

    // A truncated blob is corrupt too.
    std::fs::write(&path, &content[..10]).unwrap();
    assert!(matches!(
        store.read_blob(&digest),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn committing_the_same_content_twice_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // Both writers exist at once, as two builds pulling the same layer would.
    let mut first = store.blob_writer().unwrap();
    let mut second = store.blob_writer().unwrap();
    first.write_all(b"same").unwrap();
    second.write_all(b"same").unwrap();
    let a = first.commit(None).unwrap();
    let b = second.commit(Some(&Digest::of(b"same"))).unwrap();
    assert_eq!(a, (Digest::of(b"same"), 4));
    assert_eq!(a, b);
    assert_eq!(store.put_blob(b"same").unwrap(), a.0);
    assert_eq!(names(&store.layout().blobs_dir()), vec![a.0.hex()]);
    assert_eq!(names(&store.tmp_dir()), Vec::<String>::new());
    assert_eq!(store.read_blob(&a.0).unwrap(), b"same");
}

#[test]
fn missing_blobs_are_not_found_and_removal_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let digest = Digest::of(b"absent");
    assert!(!store.has_blob(&digest).unwrap());
    for err in [
        store.read_blob(&digest).unwrap_err(),
        store.open_blob(&digest).unwrap_err(),
        store.blob_size(&digest).unwrap_err(),
    ] {
        assert!(
            matches!(err, StoreError::BlobNotFound { digest: d } if d == digest),
            "{err:?}"
        );
        assert_eq!(err.kind(), StoreErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            format!("blob {digest} not found in the store")
        );
    }
    let present = store.put_blob(b"present").unwrap();
    assert!(store.remove_blob(&present).unwrap());
    assert!(!store.remove_blob(&present).unwrap());
    assert!(!store.has_blob(&present).unwrap());
}
