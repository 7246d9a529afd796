//! Repository rules checked by `cargo test` (see `tests/tidy.rs`); this crate has no code.
