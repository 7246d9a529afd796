//! Image layer tarballs: applying them to disk safely, producing them from overlayfs upper
//! directories or from two full trees, compressing them once with both digests computed on
//! the way, and extracting `ADD` archives.
//!
//! Compatibility target is BuildKit v0.24 with containerd 2. Layers written here have the
//! same uncompressed bytes (hence the same diff_id) as BuildKit's — same walk order, same
//! Go `archive/tar` header encoding, same whiteout entries — for a base layer, for
//! `write_tree_diff`, and for an upper directory when `DiffOptions::lower` is given (the
//! test suite pins a digest produced by Go's writer). Compressed bytes differ from Go's
//! (another deflate implementation), so blob digests do not match BuildKit's; they are
//! reproducible. Applying follows containerd's `applyNaive`; where hearth is stricter
//! (symlinks in entry paths are refused by default) the item's docs say so.
//!
//! Modules, one job each. Reading: `detect` (archive formats), `entry` (a tar entry's
//! metadata), `names` (entry-name cleaning), `root` (symlink-proof access to the
//! destination), `whiteout` (both spellings of deletions), `apply` (the unpacking engine),
//! `extract` (`ADD`). Writing: `walk` (Go's walk order), `header` (Go-compatible tar
//! headers), `changes` (changes to tar entries), `write` (overlay upper directories),
//! `diff` (two trees), `compress` (compressions and media types), `pgzip` (parallel gzip),
//! `export` (one pass, both digests). Shared: `fsutil`, `error`.

mod apply;
mod changes;
mod compress;
mod detect;
mod diff;
mod entry;
mod error;
mod export;
mod extract;
mod header;
mod names;
mod pgzip;
mod walk;
mod whiteout;
mod write;

pub use apply::{ApplyOptions, ApplyReport, SymlinkPolicy, WhiteoutMode, apply_layer};
pub use changes::{DiffOptions, TarStats, XattrPolicy};
pub use compress::{
    Compression, MEDIA_TYPE_DOCKER_LAYER, MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_OCI_LAYER,
    MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_LAYER_ZSTD, media_type,
};
pub use detect::{ArchiveFormat, DETECT_LEN, decompressed, detect_archive};
pub use diff::write_tree_diff;
pub use error::LayerError;
pub use export::{ExportedLayer, export_layer};
pub use extract::{ExtractOptions, extract_archive};
pub use write::write_layer_tar;
