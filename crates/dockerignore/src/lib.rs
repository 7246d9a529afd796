//! `.dockerignore` handling that reproduces moby/patternmatcher, the matcher
//! BuildKit uses to filter a build context, down to its quirks.
//!
//! * [`read_ignore_file`] turns a file's bytes into patterns.
//! * [`resolve_ignore`] picks between `<Dockerfile>.dockerignore` and
//!   `.dockerignore` the way BuildKit's Dockerfile frontend does;
//!   [`fs::read_ignore_for_build`] does the same from disk.
//! * [`PatternMatcher`] decides whether a context path is ignored, either in
//!   one call or incrementally during a top-down walk, and [`DirPruner`] tells
//!   the walk when an ignored directory can be skipped whole.
//!
//! ```
//! use hearth_dockerignore::{MatchInfo, PatternMatcher, read_ignore_file};
//!
//! let patterns = read_ignore_file(b"# build output\ntarget\n!target/keep.txt\n")?;
//! let matcher = PatternMatcher::new(&patterns)?;
//! assert!(matcher.matches_or_parent_matches("target/debug/app")?);
//! assert!(!matcher.matches_or_parent_matches("target/keep.txt")?);
//!
//! // During a walk, each directory's results feed its entries.
//! let (ignored, target_info) = matcher.matches_using_parent_results("target", &MatchInfo::default())?;
//! assert!(ignored);
//! let (ignored, _) = matcher.matches_using_parent_results("target/keep.txt", &target_info)?;
//! assert!(!ignored);
//! # Ok::<(), hearth_dockerignore::Error>(())
//! ```

mod clean;
mod error;
pub mod fs;
mod glob;
mod ignorefile;
mod matcher;
mod pattern;
mod prune;
mod re2;
mod resolve;
mod translate;
pub mod walk;

pub use error::Error;
pub use ignorefile::read_ignore_file;
pub use matcher::{MatchInfo, PatternMatcher};
pub use pattern::Pattern;
pub use prune::DirPruner;
pub use resolve::{
    CONTEXT_IGNORE_FILE, IgnoreSource, ResolvedIgnore, dockerfile_ignore_name, resolve_ignore,
};
