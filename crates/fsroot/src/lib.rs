//! Paths resolved inside their own root, and file operations through descriptors that
//! cannot leave it.
//!
//! A Dockerfile, an image and a daemon's client each name paths in trees the daemon
//! works on: a step's root filesystem, a stage's result, a synced context, an output
//! directory. None of them may reach a host path outside that tree, through a symlink
//! or `..`, whatever the tree holds and however it changes meanwhile. This crate is
//! the one place hearth does path resolution and tree manipulation for every crate:
//!
//! - [`Root::resolve`]: BuildKit's `fs.RootPath` (runc's `SecureJoin`): symlinks
//!   followed but clamped inside the root;
//! - [`Root::open_in_root`]: the same, done atomically by the kernel (`openat2`
//!   `RESOLVE_IN_ROOT`), for trees that others can change concurrently;
//! - [`Root::open_dir`], [`Root::mkdir_all`] and the `*_at` functions: walks and changes
//!   through directory descriptors with `O_NOFOLLOW`, never through a link;
//! - [`remove_tree`] / [`remove_all_at`]: removal that neither follows links nor enters
//!   another mount;
//! - [`TreeWriter`]: filling a tree that may hold links (a context copy, an output
//!   directory) without writing, removing or re-timing anything through them;
//! - [`Root::read_regular`]: bounded reads of regular files only;
//! - times and extended attributes that never follow a final symlink.
//!
//! Every descriptor is opened close-on-exec, so none leaks into a container runtime.

mod at;
mod read;
mod relpath;
mod remove;
mod root;
mod times;
mod writer;
mod xattr;

pub use at::{file_type, is_errno, is_not_found, lstat_at, open_dir, open_dir_at, read_dir_names};
pub use read::ReadError;
pub use relpath::{DotDot, RelPath};
pub use remove::{remove_all_at, remove_tree};
pub use root::{DirCreate, OpenError, Root};
pub use rustix::fs::{Timespec, Timestamps};
pub use times::{copy_times, same_times, set_times};
pub use writer::{Attrs, TreeWriter};
pub use xattr::{copy_xattrs, get_xattr, list_xattrs, xattr_pairs};
