//! Who owns what: `COPY --chown` owners and `USER` for `RUN`, looked up in the
//! image's own `/etc/passwd` and `/etc/group`.
//!
//! The two lookups differ in BuildKit, and hearth keeps the difference:
//!
//! * `--chown` (BuildKit's `readUser`) only maps names to ids. A name missing from the
//!   file — or a missing file — is *not* an error: the id stays 0, so
//!   `COPY --chown=nosuchuser` gives root-owned files. A user alone takes the gid of
//!   its passwd line; a numeric user alone uses the same number as gid.
//! * `USER` (BuildKit's `oci.GetUser`, i.e. moby/sys/user's `GetExecUser`) is strict:
//!   unknown names fail, a missing passwd file fails with Go's `invalid argument`,
//!   supplementary groups come from the group file, and a numeric uid alone gets gid 0
//!   unless passwd says otherwise. `uid:gid` in numbers never reads the files.

use std::io;
use std::path::Path;

use hearth_graph::op::{Chown, UserRef};

use crate::error::FileOpError;
use crate::passwd::{self, GroupEntry, PasswdEntry};

/// Where the user database lives inside an image.
const PASSWD_FILE: &str = "/etc/passwd";
/// Where the group database lives inside an image.
const GROUP_FILE: &str = "/etc/group";
/// moby/sys/user accepts ids up to `2^31 - 1` (32-bit `int` compatibility).
const MAX_ID: i64 = (1 << 31) - 1;

/// A numeric owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ids {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// The identity a `RUN` process gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups as `GetExecUser` reports them: the groups listing the user
    /// by name, only when the spec names no group. Does not contain the primary gid
    /// unless a group file line says so; see [`ResolvedUser::oci_additional_gids`].
    pub additional_gids: Vec<u32>,
    /// `HOME` for the process when the environment has none: the home field of the
    /// first passwd line with this uid, `/` when there is none (runc's rule).
    pub home: String,
}

impl ResolvedUser {
    /// What BuildKit puts in the OCI spec's `process.user.additionalGids`: the
    /// supplementary groups with the primary gid in front unless already present
    /// (containerd's `ensureAdditionalGids`). This is what `id -G` shows.
    pub fn oci_additional_gids(&self) -> Vec<u32> {
        if self.additional_gids.contains(&self.gid) {
            return self.additional_gids.clone();
        }
        let mut out = Vec::with_capacity(self.additional_gids.len() + 1);
        out.push(self.gid);
        out.extend_from_slice(&self.additional_gids);
        out
    }
}

/// Resolves a `--chown` owner against the passwd and group files of `root` (the
/// destination's base filesystem; `None` when it is `scratch`), as BuildKit's
/// `readUser` does.
///
/// A user by name takes the uid and gid of the first passwd line with that name; a
/// user by id `n` is `n:n`; a group then overrides the gid (by name from the group
/// file, or by id). A name that is not found leaves the ids at 0, exactly like
/// BuildKit.
///
/// # Errors
///
/// A name with no filesystem to look it up in, or a passwd/group file that exists but
/// cannot be read (a directory, an over-long line). Errors name the user or group and
/// the file.
pub fn resolve_owner(chown: &Chown, root: Option<&Path>) -> Result<Ids, FileOpError> {
    let (mut uid, mut gid) = (0i64, 0i64);
    match &chown.user {
        None => {}
        Some(UserRef::Id(id)) => {
            uid = i64::from(*id);
            gid = i64::from(*id);
        }
        Some(UserRef::Name(name)) => {
            let root = root.ok_or_else(|| FileOpError::NoUserDatabase {
                what: "user",
                name: name.clone(),
                file: PASSWD_FILE,
            })?;
            if let Some(data) = read_lenient(root, PASSWD_FILE, "user", name)? {
                let users = passwd::parse_passwd(&data)
                    .map_err(|e| database_error("user", name, PASSWD_FILE, e))?;
                if let Some(user) = users.iter().find(|u| &u.name == name) {
                    uid = user.uid;
                    gid = user.gid;
                }
            }
        }
    }
    match &chown.group {
        None => {}
        Some(UserRef::Id(id)) => gid = i64::from(*id),
        Some(UserRef::Name(name)) => {
            let root = root.ok_or_else(|| FileOpError::NoUserDatabase {
                what: "group",
                name: name.clone(),
                file: GROUP_FILE,
            })?;
            if let Some(data) = read_lenient(root, GROUP_FILE, "group", name)? {
                if let Some(group) = passwd::parse_group(&data).iter().find(|g| &g.name == name) {
                    gid = group.gid;
                }
            }
        }
    }
    Ok(Ids {
        uid: go_uint32(uid),
        gid: go_uint32(gid),
    })
}

/// Resolves a `USER` value (`name`, `uid`, `name:group`, `uid:gid`, or empty for
/// root) against the passwd and group files of `root`, as BuildKit's `oci.GetUser`
/// and runc do for `RUN`.
///
/// # Errors
///
/// A user or group name that is not in its file, a passwd (or, when groups have to be
/// looked up, group) file that cannot be read, or an unknown numeric id outside
/// `0..=2^31-1`. An empty spec never fails.
pub fn resolve_user(spec: &str, root: &Path) -> Result<ResolvedUser, FileOpError> {
    let (spec, is_default) = if spec.is_empty() {
        ("0", true)
    } else {
        (spec, false)
    };
    let passwd = read_strict(root, PASSWD_FILE);
    let (uid, gid, additional) = match parse_uid_gid(spec) {
        // `uid:gid` in numbers: the files are not consulted.
        Some((uid, gid)) => (uid, gid, Vec::new()),
        None => match exec_user(spec, &passwd, &read_strict(root, GROUP_FILE)) {
            Ok(user) => user,
            Err(_) if is_default => (0, 0, Vec::new()),
            Err(e) => return Err(e),
        },
    };
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids: additional,
        home: home_of(&passwd, uid),
    })
}

/// BuildKit's `ParseUIDGID` fast path: both parts present and numeric (or `root`).
fn parse_uid_gid(spec: &str) -> Option<(u32, u32)> {
    let (user, group) = spec.split_once(':')?;
    Some((parse_id(user)?, parse_id(group)?))
}

/// BuildKit's `parseUID`: `root` is 0, else an unsigned 32-bit decimal.
fn parse_id(s: &str) -> Option<u32> {
    if s == "root" {
        return Some(0);
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A passwd or group file as `GetExecUser` sees it: its bytes, or the error reading
/// it gave. Go passes a nil `*os.File` when the open failed, and reading that fails
/// with `invalid argument`, so a missing file is an error once it has to be read.
type Database = Result<Vec<u8>, io::Error>;

/// moby/sys/user's `GetExecUser` with no defaults: uid, gid and supplementary gids.
fn exec_user(
    spec: &str,
    passwd_file: &Database,
    group_file: &Database,
) -> Result<(u32, u32, Vec<u32>), FileOpError> {
    let mut fields = spec.split(':');
    let user_arg = fields.next().unwrap_or_default();
    let group_arg = fields.next().unwrap_or_default();
    let (uid_arg, uid_numeric) = passwd::atoi(user_arg);
    let (gid_arg, gid_numeric) = passwd::atoi(group_arg);

    let shown_user = if user_arg.is_empty() { "0" } else { user_arg };
    let users: Vec<PasswdEntry> = passwd_file
        .as_ref()
        .map_err(|e| database_error("user", shown_user, PASSWD_FILE, copy_error(e)))
        .and_then(|data| {
            passwd::parse_passwd(data)
                .map_err(|e| database_error("user", shown_user, PASSWD_FILE, e))
        })?;
    let matched = users.into_iter().find(|u| {
        if user_arg.is_empty() {
            u.uid == 0
        } else if uid_numeric {
            u.uid == uid_arg
        } else {
            u.name == user_arg
        }
    });

    let (mut uid, mut gid) = (0i64, 0i64);
    let mut matched_name = String::new();
    if let Some(user) = matched {
        uid = user.uid;
        gid = user.gid;
        matched_name = user.name;
    } else if !user_arg.is_empty() {
        if !uid_numeric {
            return Err(FileOpError::UserNotFound {
                user: user_arg.to_owned(),
                file: PASSWD_FILE.to_owned(),
            });
        }
        uid = check_range(uid_arg)?;
    }

    let mut additional = Vec::new();
    if !group_arg.is_empty() || !matched_name.is_empty() {
        let groups: Vec<GroupEntry> = match group_file {
            Ok(data) => passwd::parse_group(data),
            Err(e) => {
                return Err(database_error(
                    "groups for spec",
                    &matched_name,
                    GROUP_FILE,
                    copy_error(e),
                ));
            }
        };
        let selected: Vec<&GroupEntry> = groups
            .iter()
            .filter(|g| {
                if group_arg.is_empty() {
                    g.members.contains(&matched_name)
                } else if gid_numeric {
                    g.gid == gid_arg
                } else {
                    g.name == group_arg
                }
            })
            .collect();
        if !group_arg.is_empty() {
            match selected.first() {
                Some(group) => gid = group.gid,
                None if gid_numeric => gid = check_range(gid_arg)?,
                None => {
                    return Err(FileOpError::GroupNotFound {
                        group: group_arg.to_owned(),
                        file: GROUP_FILE.to_owned(),
                    });
                }
            }
        } else {
            // Supplementary groups only in the implicit form (no group named).
            additional = selected.iter().map(|g| go_uint32(g.gid)).collect();
        }
    }
    Ok((go_uint32(uid), go_uint32(gid), additional))
}

/// runc's `HOME`: the first passwd line with this uid, else `/`.
fn home_of(passwd_file: &Database, uid: u32) -> String {
    let Ok(data) = passwd_file else {
        return "/".to_owned();
    };
    passwd::parse_passwd(data)
        .ok()
        .and_then(|users| users.into_iter().find(|u| u.uid == i64::from(uid)))
        .map_or_else(|| "/".to_owned(), |u| u.home)
}

fn check_range(id: i64) -> Result<i64, FileOpError> {
    if (0..=MAX_ID).contains(&id) {
        Ok(id)
    } else {
        Err(FileOpError::IdOutOfRange { id })
    }
}

/// Go's `uint32(int)`: ids from passwd lines are plain ints and are truncated the
/// same way when they reach the kernel.
fn go_uint32(id: i64) -> u32 {
    id as u32
}

/// The largest `/etc/passwd` or `/etc/group` read: far beyond any real one, small
/// enough that an image cannot make the daemon read gigabytes to look up a user.
pub(crate) const MAX_DATABASE_BYTES: u64 = 16 << 20;

/// Reads a database file inside `root` for `GetExecUser`; any failure is kept, to be
/// reported only if the file is actually needed. When Go's `os.Open` fails BuildKit
/// passes on a nil `*os.File`, and reading that fails with `invalid argument`.
fn read_strict(root: &Path, file: &str) -> Database {
    // Go's `os.ErrInvalid`, with its wording.
    let invalid = || io::Error::new(io::ErrorKind::InvalidInput, "invalid argument");
    match read_in_root(root, file) {
        Ok(Some(data)) => Ok(data),
        Ok(None) => Err(invalid()),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Err(e),
        Err(_) => Err(invalid()),
    }
}

/// Reads a database file inside `root` for `readUser`: a missing file (or a missing
/// directory on the way) means "not found", other failures are errors.
fn read_lenient(
    root: &Path,
    file: &str,
    what: &'static str,
    name: &str,
) -> Result<Option<Vec<u8>>, FileOpError> {
    read_in_root(root, file).map_err(|e| database_error(what, name, file, e))
}

/// The file's bytes when it is a regular file of at most [`MAX_DATABASE_BYTES`], found
/// through the root's own links; `None` when it does not exist. A FIFO, device or
/// directory planted at `/etc/passwd`, or an endless file, is an `InvalidData` error
/// that says so instead of a hang or an out-of-memory daemon.
fn read_in_root(root: &Path, file: &str) -> io::Result<Option<Vec<u8>>> {
    let tree = hearth_fsroot::Root::open(root)?;
    match tree.read_regular(file.as_bytes(), MAX_DATABASE_BYTES) {
        Ok(data) => Ok(data),
        Err(hearth_fsroot::ReadError::Io(e)) => Err(e),
        Err(refused) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{file} in the image is not usable: {refused}"),
        )),
    }
}

fn copy_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

fn database_error(what: &'static str, name: &str, file: &str, source: io::Error) -> FileOpError {
    FileOpError::UserDatabase {
        what,
        name: name.to_owned(),
        file: file.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_gid_fast_path() {
        assert_eq!(parse_uid_gid("1:2"), Some((1, 2)));
        assert_eq!(parse_uid_gid("root:root"), Some((0, 0)));
        assert_eq!(parse_uid_gid("1000"), None);
        assert_eq!(parse_uid_gid("app:1"), None);
        assert_eq!(parse_uid_gid("1:+2"), None);
        assert_eq!(parse_uid_gid("4294967295:0"), Some((u32::MAX, 0)));
        assert_eq!(parse_uid_gid("4294967296:0"), None);
    }

    #[test]
    fn oci_gids_put_the_primary_group_first() {
        let user = ResolvedUser {
            uid: 1,
            gid: 10,
            additional_gids: vec![20, 30],
            home: "/".into(),
        };
        assert_eq!(user.oci_additional_gids(), [10, 20, 30]);
        let user = ResolvedUser {
            additional_gids: vec![20, 10],
            ..user
        };
        assert_eq!(user.oci_additional_gids(), [20, 10]);
    }
}
