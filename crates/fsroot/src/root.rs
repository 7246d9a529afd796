//! A directory tree reached only through descriptors rooted at it.
//!
//! [`Root::resolve`] computes where a path leads when symlinks are followed as if the
//! root were `/` (continuity's `fs.RootPath`, runc's `SecureJoin`): absolute targets
//! restart at the root, `..` never climbs above it, components that do not exist are
//! kept. [`Root::open_in_root`] asks the kernel for the same thing atomically
//! (`openat2` with `RESOLVE_IN_ROOT`), for callers that must not race a tree someone
//! else can change. [`Root::open_dir`] walks a resolved path one component at a time
//! with `O_NOFOLLOW`, so the kernel refuses to pass through a symlink whatever the path
//! strings say.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::at::{self, is_errno};
use crate::relpath::RelPath;

/// How many symlinks one resolution may follow, as continuity and the kernel allow.
const MAX_LINKS: usize = 255;

/// `openat2` answers `EAGAIN` when a rename raced the lookup; it is safe to ask again.
const OPENAT2_RETRIES: usize = 32;

/// Why a directory could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// This prefix of the path is a symlink.
    Symlink(RelPath),
    /// This prefix exists and is not a directory.
    NotDir(RelPath),
    /// Anything else.
    Io(io::Error),
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<Errno> for OpenError {
    fn from(e: Errno) -> Self {
        Self::Io(e.into())
    }
}

impl From<OpenError> for io::Error {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Symlink(at) => io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is a symlink", at.display()),
            ),
            OpenError::NotDir(at) => io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", at.display()),
            ),
            OpenError::Io(e) => e,
        }
    }
}

/// How [`Root::open_dir`] creates missing directories.
#[derive(Debug, Clone, Copy)]
pub struct DirCreate {
    /// Permission bits, set exactly whatever the umask.
    pub mode: u32,
    /// Keep a setgid bit inherited from the parent, as `mkdir` under umask 0 does.
    pub inherit_setgid: bool,
    /// Owner of each directory created.
    pub owner: Option<(u32, u32)>,
    /// Replace a non-directory (a file or a symlink) in the way instead of failing.
    pub replace: bool,
}

impl DirCreate {
    /// Directories of exactly `mode`, owned by the caller, failing on anything in the way.
    pub fn exact(mode: u32) -> Self {
        Self {
            mode,
            inherit_setgid: false,
            owner: None,
            replace: false,
        }
    }
}

/// One component of a resolution in progress.
enum Step {
    Dir(OwnedFd),
    Missing,
    NotDir,
}

/// An open directory that paths are resolved in.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl AsFd for Root {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Root {
    /// Opens the root directory itself (following symlinks: the path is the caller's).
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(Self {
            fd: at::open_dir(path)?,
            path: path.to_path_buf(),
        })
    }

    /// The root's path, for messages and for the few calls that have no descriptor form.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `root/rel` as a host path.
    pub fn host_path(&self, rel: &RelPath) -> PathBuf {
        rel.under(&self.path)
    }

    /// Opens directory `dir` without following symlinks. With `create`, missing
    /// components are made as it says and reported to `created`.
    pub fn open_dir(
        &self,
        dir: &RelPath,
        create: Option<&DirCreate>,
        created: &mut dyn FnMut(&RelPath),
    ) -> Result<OwnedFd, OpenError> {
        let mut current = rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)?;
        let mut so_far = RelPath::root();
        for part in dir.components() {
            so_far = so_far.join(part);
            current = match at::open_dir_at(&current, part) {
                Ok(fd) => fd,
                Err(e) => match create {
                    Some(how) if is_errno(&e, Errno::NOENT) => {
                        make_dir(&current, part, &so_far, how, created)?
                    }
                    Some(how) if how.replace && is_in_the_way(&current, part, &e) => {
                        rustix::fs::unlinkat(&current, part, rustix::fs::AtFlags::empty())?;
                        make_dir(&current, part, &so_far, how, created)?
                    }
                    _ => return Err(why(&current, part, &so_far, e)),
                },
            };
        }
        Ok(current)
    }

    /// Where `path` (taken as absolute inside the root) leads with every symlink,
    /// including a trailing one, followed inside the root; components that do not exist
    /// are kept as they are, so the result may not exist. `..` applies to what the
    /// components before it resolved to.
    ///
    /// # Errors
    ///
    /// `ELOOP` after 255 links, `ENOTDIR` when a component below a non-directory is
    /// looked up, and any other lookup error.
    pub fn resolve(&self, path: &[u8]) -> io::Result<RelPath> {
        let mut todo: Vec<Vec<u8>> = split_reversed(path);
        let mut resolved: Vec<(Vec<u8>, Step)> = Vec::new();
        let mut links = 0;
        while let Some(part) = todo.pop() {
            match part.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    resolved.pop();
                    continue;
                }
                _ => {}
            }
            let parent = match resolved.last() {
                None => self.fd.as_fd(),
                Some((_, Step::Dir(fd))) => fd.as_fd(),
                Some((_, Step::Missing)) => {
                    resolved.push((part, Step::Missing));
                    continue;
                }
                Some((_, Step::NotDir)) => return Err(Errno::NOTDIR.into()),
            };
            let step = match at::lstat_at(parent, &part)? {
                None => Step::Missing,
                Some(st) if at::file_type(&st) == FileType::Symlink => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(Errno::LOOP.into());
                    }
                    let target = rustix::fs::readlinkat(parent, part.as_slice(), Vec::new())?;
                    let target = target.into_bytes();
                    if target.first() == Some(&b'/') {
                        resolved.clear();
                    }
                    todo.extend(split_reversed(&target));
                    continue;
                }
                Some(st) if at::file_type(&st) == FileType::Directory => {
                    Step::Dir(rustix::fs::openat(
                        parent,
                        part.as_slice(),
                        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?)
                }
                Some(_) => Step::NotDir,
            };
            resolved.push((part, step));
        }
        Ok(RelPath::from_components(
            resolved.iter().map(|(name, _)| name.as_slice()),
        ))
    }

    /// Opens `path` (taken as absolute inside the root) with every symlink followed
    /// inside the root, atomically: the kernel resolves it with `RESOLVE_IN_ROOT`, so a
    /// tree that changes meanwhile cannot redirect it outside. With `O_NOFOLLOW` in
    /// `flags` a trailing symlink is not followed. Magic links (`/proc/self/fd/N`) are
    /// refused.
    pub fn open_in_root(&self, path: &[u8], flags: OFlags) -> io::Result<OwnedFd> {
        let rel = trim_leading_slashes(path);
        let rel: &[u8] = if rel.is_empty() { b"." } else { rel };
        let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        for _ in 0..OPENAT2_RETRIES {
            match rustix::fs::openat2(&self.fd, rel, flags | OFlags::CLOEXEC, Mode::empty(), how) {
                Err(Errno::AGAIN | Errno::INTR) => continue,
                // Kernels before 5.6 have no openat2: resolve here, then open without
                // following anything, which fails rather than escapes if the tree changed.
                Err(Errno::NOSYS) => return self.open_resolved(path, flags),
                other => return Ok(other?),
            }
        }
        Err(Errno::AGAIN.into())
    }

    fn open_resolved(&self, path: &[u8], flags: OFlags) -> io::Result<OwnedFd> {
        let follow_last = !flags.contains(OFlags::NOFOLLOW);
        let rel = if follow_last {
            self.resolve(path)?
        } else {
            let cleaned = RelPath::clean(path, crate::DotDot::Clamp)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            self.resolve(cleaned.parent().as_bytes())?
                .join(cleaned.file_name())
        };
        if rel.is_root() {
            return Ok(rustix::fs::openat(
                &self.fd,
                ".",
                flags | OFlags::CLOEXEC,
                Mode::empty(),
            )?);
        }
        let parent = self.open_dir(&rel.parent(), None, &mut |_| {})?;
        Ok(rustix::fs::openat(
            &parent,
            rel.file_name(),
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// runc's and BuildKit's `MkdirAll` of a path inside the root: resolves `path` as
    /// [`Root::resolve`] does, then creates what is missing as `create` says, never
    /// through a symlink. Returns the resolved path and the directories created.
    pub fn mkdir_all(
        &self,
        path: &[u8],
        create: &DirCreate,
    ) -> io::Result<(RelPath, Vec<RelPath>)> {
        let rel = self.resolve(path)?;
        let mut made = Vec::new();
        self.open_dir(&rel, Some(create), &mut |p| made.push(p.clone()))?;
        Ok((rel, made))
    }
}

/// Creates directory `part` in `dir` as `how` says and opens it.
fn make_dir(
    dir: &OwnedFd,
    part: &[u8],
    so_far: &RelPath,
    how: &DirCreate,
    created: &mut dyn FnMut(&RelPath),
) -> Result<OwnedFd, OpenError> {
    match rustix::fs::mkdirat(dir, part, Mode::from_raw_mode(how.mode & 0o777)) {
        Ok(()) => {}
        // Someone else made it in between: use theirs, as long as it is a directory.
        Err(Errno::EXIST) => {
            return at::open_dir_at(dir, part).map_err(|e| why(dir, part, so_far, e));
        }
        Err(e) => return Err(e.into()),
    }
    let fd = at::open_dir_at(dir, part).map_err(|e| why(dir, part, so_far, e))?;
    let got = rustix::fs::fstat(&fd)?.st_mode;
    let setgid = if how.inherit_setgid { got & 0o2000 } else { 0 };
    let want = (how.mode & 0o7777) | setgid;
    if got & 0o7777 != want {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(want))?;
    }
    if let Some((uid, gid)) = how.owner {
        rustix::fs::fchown(
            &fd,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )?;
    }
    created(so_far);
    Ok(fd)
}

/// Whether opening `part` failed because a non-directory is there.
fn is_in_the_way(dir: &OwnedFd, part: &[u8], e: &io::Error) -> bool {
    (is_errno(e, Errno::LOOP) || is_errno(e, Errno::NOTDIR))
        && at::lstat_at(dir, part)
            .ok()
            .flatten()
            .is_some_and(|st| at::file_type(&st) != FileType::Directory)
}

/// Why `open_dir_at(dir, part)` failed: a symlink, a non-directory, or something else.
fn why(dir: &OwnedFd, part: &[u8], at: &RelPath, e: io::Error) -> OpenError {
    if is_errno(&e, Errno::LOOP) || is_errno(&e, Errno::NOTDIR) {
        match at::lstat_at(dir, part) {
            Ok(Some(st)) if at::file_type(&st) == FileType::Symlink => {
                return OpenError::Symlink(at.clone());
            }
            Ok(Some(_)) => return OpenError::NotDir(at.clone()),
            _ => {}
        }
    }
    OpenError::Io(e)
}

fn trim_leading_slashes(path: &[u8]) -> &[u8] {
    let start = path.iter().position(|&b| b != b'/').unwrap_or(path.len());
    &path[start..]
}

/// The components of `path`, last first (a stack whose top is the next component).
fn split_reversed(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/')
        .rev()
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::symlink;

    use super::*;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("usr/lib")).unwrap();
        std::fs::write(r.join("usr/lib/f"), b"x").unwrap();
        symlink("/usr/lib", r.join("abs")).unwrap();
        symlink("../../../../usr", r.join("usr/up")).unwrap();
        symlink("/", r.join("slash")).unwrap();
        symlink("loop", r.join("loop")).unwrap();
        t
    }

    fn resolved(root: &Root, p: &str) -> String {
        root.resolve(p.as_bytes()).unwrap().display()
    }

    #[test]
    fn resolution_stays_inside_the_root() {
        let t = tree();
        let root = Root::open(t.path()).unwrap();
        assert_eq!(resolved(&root, "/abs/f"), "usr/lib/f");
        assert_eq!(resolved(&root, "usr/up/lib"), "usr/lib");
        assert_eq!(resolved(&root, "/../../etc"), "etc");
        assert_eq!(resolved(&root, "/slash/../../abs"), "usr/lib");
        assert_eq!(resolved(&root, "/missing/deeper/x"), "missing/deeper/x");
        assert_eq!(resolved(&root, "/missing/../usr"), "usr");
        // `..` applies to what a link resolved to, as runc's SecureJoin does.
        assert_eq!(resolved(&root, "/abs/.."), "usr");
        assert!(is_errno(&root.resolve(b"/loop").unwrap_err(), Errno::LOOP));
        assert!(is_errno(
            &root.resolve(b"/usr/lib/f/x").unwrap_err(),
            Errno::NOTDIR
        ));
    }

    #[test]
    fn open_in_root_follows_links_inside_and_never_out() {
        let t = tree();
        let root = Root::open(t.path()).unwrap();
        let fd = root.open_in_root(b"/abs/f", OFlags::RDONLY).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(rustix::io::read(&fd, &mut buf).unwrap(), 1);
        let up = root
            .open_in_root(b"usr/up", OFlags::PATH | OFlags::DIRECTORY)
            .unwrap();
        let want = rustix::fs::stat(t.path().join("usr")).unwrap();
        let got = rustix::fs::fstat(&up).unwrap();
        assert_eq!((got.st_dev, got.st_ino), (want.st_dev, want.st_ino));
        assert!(
            root.open_in_root(b"/abs", OFlags::PATH | OFlags::NOFOLLOW)
                .is_ok(),
            "O_PATH|O_NOFOLLOW opens the link itself"
        );
        assert!(root.open_in_root(b"/nothing", OFlags::PATH).is_err());
        // The fallback used where openat2 is missing gives the same answers.
        let fd = root.open_resolved(b"/abs/f", OFlags::RDONLY).unwrap();
        assert_eq!(rustix::io::read(&fd, &mut buf).unwrap(), 1);
        let up = root
            .open_resolved(b"usr/up", OFlags::PATH | OFlags::DIRECTORY)
            .unwrap();
        let got = rustix::fs::fstat(&up).unwrap();
        assert_eq!((got.st_dev, got.st_ino), (want.st_dev, want.st_ino));
    }

    #[test]
    fn open_dir_refuses_links_and_creates_exactly() {
        let t = tree();
        let root = Root::open(t.path()).unwrap();
        let abs = RelPath::from_bytes(b"abs/new".to_vec());
        assert!(matches!(
            root.open_dir(&abs, Some(&DirCreate::exact(0o755)), &mut |_| {}),
            Err(OpenError::Symlink(at)) if at.display() == "abs"
        ));
        let mut made = Vec::new();
        let how = DirCreate {
            owner: Some((1234, 5678)),
            ..DirCreate::exact(0o700)
        };
        root.open_dir(
            &RelPath::from_bytes(b"a/b".to_vec()),
            Some(&how),
            &mut |p| made.push(p.display()),
        )
        .unwrap();
        assert_eq!(made, ["a", "a/b"]);
        let st = rustix::fs::stat(t.path().join("a/b")).unwrap();
        assert_eq!(
            (st.st_mode & 0o7777, st.st_uid, st.st_gid),
            (0o700, 1234, 5678)
        );
        // With `replace`, the link in the way goes and a directory takes its place;
        // what it pointed to is untouched.
        let replace = DirCreate {
            replace: true,
            ..DirCreate::exact(0o755)
        };
        root.open_dir(&abs, Some(&replace), &mut |_| {}).unwrap();
        assert!(t.path().join("abs/new").is_dir());
        assert!(!t.path().join("usr/lib/new").exists());
    }

    #[test]
    fn mkdir_all_resolves_like_securejoin() {
        let t = tree();
        let root = Root::open(t.path()).unwrap();
        let (rel, made) = root
            .mkdir_all(b"/work/../app/./src", &DirCreate::exact(0o755))
            .unwrap();
        assert_eq!(rel.display(), "app/src");
        assert_eq!(
            made.iter().map(RelPath::display).collect::<Vec<_>>(),
            ["app", "app/src"]
        );
        assert!(!t.path().join("work").exists());
        let (rel, _) = root
            .mkdir_all(b"/slash/../../abs/sub", &DirCreate::exact(0o755))
            .unwrap();
        assert_eq!(rel.display(), "usr/lib/sub");
    }
}
