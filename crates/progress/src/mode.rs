//! The `--progress` modes and their parsing.

use std::fmt;
use std::io::IsTerminal;
use std::str::FromStr;

/// How progress is shown, as buildx's `--progress` flag names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// `tty` when stderr is a terminal, `plain` otherwise.
    #[default]
    Auto,
    /// BuildKit's plain text, one line per update, for logs and CI.
    Plain,
    /// A live view redrawn in place, for terminals.
    Tty,
    /// One BuildKit `SolveStatus` JSON object per line, for programs.
    RawJson,
}

/// The spellings [`Mode::from_str`] accepts, in the order errors list them.
const VALID: &str = "auto, plain, tty, rawjson";

/// A `--progress` value that names no mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid progress mode {0:?}: valid values are {VALID}")]
pub struct ParseModeError(String);

impl FromStr for Mode {
    type Err = ParseModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // buildx compares the value as given (no case folding, no trimming), so a
        // misspelt flag fails here rather than silently picking another display.
        match s {
            "auto" => Ok(Self::Auto),
            "plain" => Ok(Self::Plain),
            "tty" => Ok(Self::Tty),
            "rawjson" => Ok(Self::RawJson),
            _ => Err(ParseModeError(s.to_owned())),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Plain => "plain",
            Self::Tty => "tty",
            Self::RawJson => "rawjson",
        })
    }
}

impl Mode {
    /// The concrete mode: `Auto` becomes `Tty` when `stderr_is_terminal`, else `Plain`.
    pub fn resolve(self, stderr_is_terminal: bool) -> Mode {
        match self {
            Self::Auto if stderr_is_terminal => Self::Tty,
            Self::Auto => Self::Plain,
            other => other,
        }
    }

    /// [`Mode::resolve`] against this process's stderr.
    pub fn resolve_for_stderr(self) -> Mode {
        self.resolve(std::io::stderr().is_terminal())
    }
}
