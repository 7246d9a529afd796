//! Tar entry names in messages. Cleaning them into paths inside the destination is
//! `hearth_fsroot::RelPath::clean`: layers reject a `..` that climbs out (`UnsafePath`),
//! `ADD` archives clamp it at the root as docker's chroot does.

/// How an entry name is shown in errors: as written in the archive.
pub(crate) fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}
