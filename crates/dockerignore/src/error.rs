//! The error type shared by every module of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while reading ignore files or matching paths.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A pattern consisting of nothing but `!` (after cleaning) was given.
    #[error("illegal exclusion pattern: \"!\"")]
    IllegalExclusion,

    /// A pattern is malformed, either as a glob (reported when the matcher is
    /// built) or as the regular expression it translates to (reported when a
    /// path is first tested against it, exactly as moby/patternmatcher does).
    #[error("syntax error in pattern {pattern:?}: {reason}")]
    BadPattern {
        /// The cleaned pattern, without its `!` prefix.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The regular-expression engine refused a translated pattern, for example
    /// because it would compile to a program above the size limit.
    #[error("pattern {pattern:?} could not be compiled: {source}")]
    Regex {
        /// The cleaned pattern, without its `!` prefix.
        pattern: String,
        /// The engine's own error.
        #[source]
        source: Box<regex::Error>,
    },

    /// A [`MatchInfo`](crate::MatchInfo) produced by a matcher with a different
    /// number of patterns was passed back in.
    #[error("wrong number of values in parent match info: expected {expected}, got {actual}")]
    MatchInfoMismatch {
        /// How many patterns the matcher has.
        expected: usize,
        /// How many entries the match info carried.
        actual: usize,
    },

    /// A line of an ignore file is longer than the 64 KiB that Go's line
    /// scanner accepts, so BuildKit refuses the whole file.
    #[error("line {line} of the ignore file is too long")]
    LineTooLong {
        /// One-based line number.
        line: usize,
    },

    /// An ignore file could not be parsed.
    #[error("failed parsing {name}: {source}")]
    IgnoreFile {
        /// The name BuildKit reports for the file, e.g. `.dockerignore`.
        name: String,
        /// Why parsing failed.
        #[source]
        source: Box<Error>,
    },

    /// An ignore file exists but could not be read.
    #[error("failed to read {path:?}: {source}")]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
}
