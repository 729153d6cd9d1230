//! The tile-store contract, run on both implementations: the local folder and an S3 bucket on a real
//! S3 server (s3s-fs over loopback, path-style requests through object_store).

use toyz_pyramid::objstore::{S3Options, S3Store};
use toyz_pyramid::tilestore::{manifest_key, spec_key, tile_key};
use toyz_pyramid::{FolderStore, TileStore};

fn contract(s: &dyn TileStore) {
    let k = tile_key("abcd", "ef01", 2, 1, 3);
    assert_eq!(s.get(&k).unwrap(), None);
    assert!(!s.exists(&k).unwrap());
    s.put(&k, b"one").unwrap();
    s.put(&k, b"two!").unwrap();
    assert_eq!(s.get(&k).unwrap().as_deref(), Some(&b"two!"[..]));
    assert!(s.exists(&k).unwrap());
    s.put(&manifest_key("abcd"), b"{}").unwrap();
    s.put(&spec_key("abcd", "ef01"), b"{}").unwrap();
    s.put(&tile_key("abcd", "ef01", 0, 0, 0), b"x").unwrap();
    s.put(&tile_key("abce", "ef01", 0, 0, 0), b"y").unwrap();
    assert_eq!(
        s.list("abcd/ef01/").unwrap(),
        vec![
            "abcd/ef01/0/0/0.png",
            "abcd/ef01/2/1/3.png",
            "abcd/ef01/spec.json"
        ]
    );
    assert_eq!(
        s.list("abcd/manifest.json").unwrap(),
        vec!["abcd/manifest.json"]
    );
    assert_eq!(s.list("nothing/").unwrap(), Vec::<String>::new());
    // A prefix is whole path components: abcd/ does not take abce/.
    assert_eq!(s.delete_prefix("abcd/ef01/").unwrap(), 3);
    assert_eq!(s.get(&k).unwrap(), None);
    assert!(s.exists(&manifest_key("abcd")).unwrap());
    assert!(s.exists(&tile_key("abce", "ef01", 0, 0, 0)).unwrap());
    assert_eq!(s.delete_prefix(&manifest_key("abcd")).unwrap(), 1);
    assert!(!s.exists(&manifest_key("abcd")).unwrap());
    // A tile of realistic size round-trips byte for byte.
    let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    s.put("abce/ef01/5/9/9.png", &big).unwrap();
    assert_eq!(s.get("abce/ef01/5/9/9.png").unwrap(), Some(big));
    // Keys never leave the store.
    for bad in [
        "../x",
        "/etc/passwd",
        "a/../../b",
        "a/.hidden",
        "",
        "a\\b",
        "a//b",
    ] {
        assert!(s.get(bad).is_err(), "{bad}");
        assert!(s.put(bad, b"x").is_err(), "{bad}");
    }
}

#[test]
fn the_folder_store_keeps_the_contract() {
    let d = tempfile::tempdir().unwrap();
    let s = FolderStore::new(d.path());
    contract(&s);
    s.check().unwrap();
    assert!(
        d.path().join("abce/ef01/0/0/0.png").is_file(),
        "today's folder layout"
    );
    // A temp file of an interrupted write is not a key.
    std::fs::write(d.path().join("abce/ef01/.0.png.1.2.tmp"), b"part").unwrap();
    assert_eq!(
        s.list("abce/ef01/").unwrap(),
        vec!["abce/ef01/0/0/0.png", "abce/ef01/5/9/9.png"]
    );
}

#[test]
fn the_s3_store_keeps_the_contract() {
    let d = tempfile::tempdir().unwrap();
    let srv = toyz_s3_server::start(&d.path().join("s3"), "127.0.0.1:0", &["tiles"]).unwrap();
    let opts = S3Options::plain_http(
        srv.endpoint(),
        toyz_s3_server::ACCESS_KEY,
        toyz_s3_server::SECRET_KEY,
    );
    let s = S3Store::new("tiles", "night/1", &opts).unwrap();
    s.check().unwrap();
    contract(&s);
    // Under its prefix only: another prefix of the same bucket is another store.
    let other = S3Store::new("tiles", "night/2", &opts).unwrap();
    assert_eq!(other.list("abce/").unwrap(), Vec::<String>::new());
    // Ranged reads (what reading float levels from the store would use).
    s.put("abce/levels/0.f32", b"0123456789").unwrap();
    let parts = s
        .get_ranges("abce/levels/0.f32", vec![0..2, 4..6, 8..10])
        .unwrap();
    assert_eq!(parts, vec![&b"01"[..], &b"45"[..], &b"89"[..]]);
    // A wrong key or a missing bucket is an error at check time, not at the first tile.
    let wrong = S3Options {
        secret_access_key: Some("not the secret".into()),
        ..opts.clone()
    };
    assert!(S3Store::new("tiles", "", &wrong).unwrap().check().is_err());
    assert!(S3Store::new("no-such-bucket", "", &opts)
        .unwrap()
        .check()
        .is_err());
}
