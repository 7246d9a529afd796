//! Reading configuration files from disk.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use hearth_config::{Config, ConfigError, load, load_if_exists};

#[test]
fn default_path() {
    assert_eq!(
        Config::default_path(),
        PathBuf::from("/etc/hearth/hearthd.toml")
    );
}

#[test]
fn loads_a_file_and_names_it_in_findings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearthd.toml");
    std::fs::write(
        &path,
        "debug = true\n[worker.oci]\nsnapshoter = \"native\"\n",
    )
    .unwrap();
    let loaded = load(&path).unwrap();
    assert!(loaded.config.debug);
    assert_eq!(
        loaded.render(),
        format!(
            "{}:3: warning: unknown key `snapshoter` in [worker.oci]; hearth ignores it\n  = hint: did you mean `snapshotter`?",
            path.display()
        )
    );
}

#[test]
fn missing_and_unreadable_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.toml");
    let error = load(&missing).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }));
    assert!(error.to_string().starts_with(&format!(
        "failed to load config from {}: ",
        missing.display()
    )));
    // Like BuildKit's LoadFile, a missing file can mean "all defaults".
    let empty = load_if_exists(&missing).unwrap();
    assert_eq!(empty.config, Config::default());
    assert_eq!(empty.findings, []);

    let binary = dir.path().join("binary.toml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    assert!(matches!(load(&binary), Err(ConfigError::NotUtf8 { .. })));
    // A directory exists but cannot be read as a file.
    assert!(matches!(
        load_if_exists(dir.path()),
        Err(ConfigError::Read { .. })
    ));
}

#[test]
fn empty_and_comment_only_files_are_defaults() {
    for text in ["", "# nothing yet\n", "\u{feff}\n"] {
        let loaded = hearth_config::parse(text, "f");
        assert_eq!(loaded.config, Config::default());
        assert_eq!(loaded.findings, []);
    }
}
