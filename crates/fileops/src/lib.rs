//! The filesystem side of BuildKit's FileOp, for hearth: `COPY`/`ADD` copies,
//! `mkdir`, `mkfile` and `rm` actions, owner resolution from an image's
//! `/etc/passwd` and `/etc/group`, and content checksums of copy sources.
//!
//! Everything works on plain directories: a source root (read only) and a
//! destination root (an overlay mount, but any directory will do). Every path in an
//! action is an absolute path *inside* a root and is resolved the way BuildKit
//! resolves it — symlinks followed but clamped to the root, `..` stopping at the root
//! — so nothing outside the roots is ever read or written.
//!
//! The behaviour is BuildKit v0.24's (`solver/llbsolver/file/backend.go` over the
//! fsutil copy engine it vendors), including its quirks, because images are compared
//! file by file with BuildKit's. Module by module:
//!
//! * `copy`: `COPY`/`ADD` semantics; `unpack`: local archives for `ADD`.
//! * `ops`: `mkdir`, `mkfile`, `rm`.
//! * `owner`, `passwd`: `--chown` and `USER` resolution.
//! * `checksum`: cache-key checksums of exactly what a copy reads.
//! * `walk`: the include/exclude selection shared by copy and checksum;
//!   `wildcard`: Go's `filepath.Match` and wildcard expansion; `paths`: in-root
//!   resolution; `mode`: `--chmod`; `fsx`: system-call helpers.

mod checksum;
mod copy;
mod error;
mod fsx;
mod mode;
mod ops;
mod owner;
mod passwd;
mod paths;
mod unpack;
mod walk;
mod wildcard;

pub use checksum::{ChecksumOptions, ContentDigests, checksum, checksum_cached};
pub use copy::{CopyReport, copy};
pub use error::FileOpError;
pub use ops::{mkdir, mkfile, rm};
pub use owner::{Ids, ResolvedUser, resolve_owner, resolve_user};
