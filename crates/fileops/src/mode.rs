//! Which permission bits a copied entry and a created directory get under
//! `COPY --chmod`.
//!
//! fsutil's rules: without `--chmod` every entry keeps the source's twelve mode bits.
//! An octal mode replaces them on every copied entry, files and directories alike
//! (setuid, setgid and sticky included). A symbolic mode is applied to each entry's
//! own source mode, directories counting as such for `X`. Symlinks are never chmod-ed.
//! Directories the copy *creates* to hold the destination (missing parents, or the
//! destination directory of a contents copy) get 0o755, or the octal mode's
//! permission bits when one is given; a symbolic mode does not touch them.

use hearth_core::mode::SymbolicMode;
use hearth_graph::op::Chmod;

use crate::error::FileOpError;
use crate::fsx::MODE_BITS;

/// Mode of directories a copy creates when no octal mode is given.
const DEFAULT_DIR_MODE: u32 = 0o755;

/// A parsed `--chmod`.
#[derive(Debug, Clone)]
pub(crate) enum ModePolicy {
    /// Keep the source's bits.
    Keep,
    /// Exactly these bits (at most 0o7777).
    Octal(u32),
    /// Apply this expression to each source mode.
    Symbolic(SymbolicMode),
}

impl ModePolicy {
    /// Parses the action's mode.
    ///
    /// # Errors
    ///
    /// A symbolic expression that does not parse (the frontend normally rejects it
    /// first).
    pub(crate) fn new(chmod: Option<&Chmod>) -> Result<Self, FileOpError> {
        Ok(match chmod {
            None => Self::Keep,
            Some(Chmod::Octal(bits)) => Self::Octal(bits & MODE_BITS),
            Some(Chmod::Symbolic(expr)) => Self::Symbolic(SymbolicMode::parse(expr).map_err(
                |source| FileOpError::Mode {
                    expression: expr.clone(),
                    source,
                },
            )?),
        })
    }

    /// The twelve mode bits a copied entry ends with, given its source mode.
    pub(crate) fn apply(&self, source_mode: u32, is_dir: bool) -> u32 {
        match self {
            Self::Keep => source_mode & MODE_BITS,
            Self::Octal(bits) => *bits,
            Self::Symbolic(mode) => mode.apply(source_mode, is_dir),
        }
    }

    /// The mode for directories the copy creates around the copied entries. Go's
    /// `os.Mkdir` only passes the permission bits of an octal mode to the kernel
    /// (setuid, setgid and sticky in the number are not Go's mode flags).
    pub(crate) fn created_dir_mode(&self) -> u32 {
        match self {
            Self::Octal(bits) => bits & 0o777,
            Self::Keep | Self::Symbolic(_) => DEFAULT_DIR_MODE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        let keep = ModePolicy::new(None).unwrap();
        assert_eq!(keep.apply(0o104_755, false), 0o4755);
        assert_eq!(keep.created_dir_mode(), 0o755);

        let octal = ModePolicy::new(Some(&Chmod::Octal(0o4750))).unwrap();
        assert_eq!(octal.apply(0o644, false), 0o4750);
        assert_eq!(octal.apply(0o755, true), 0o4750);
        assert_eq!(octal.created_dir_mode(), 0o750);

        let symbolic = ModePolicy::new(Some(&Chmod::Symbolic("u+x,g-r".into()))).unwrap();
        assert_eq!(symbolic.apply(0o644, false), 0o704);
        assert_eq!(symbolic.created_dir_mode(), 0o755);
        let capital = ModePolicy::new(Some(&Chmod::Symbolic("a+X".into()))).unwrap();
        assert_eq!(capital.apply(0o600, true), 0o711);
        assert_eq!(capital.apply(0o600, false), 0o600);

        assert!(ModePolicy::new(Some(&Chmod::Symbolic("u+q".into()))).is_err());
    }
}
