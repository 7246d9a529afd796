//! One pattern of a matcher: its cleaned text, whether it re-includes, and the
//! compiled test it stands for.

use std::fmt;

use regex::{Regex, RegexBuilder};

use crate::Error;
use crate::re2;
use crate::translate::{Shape, translate};

/// Go only refuses regex programs far larger than realistic patterns produce,
/// while Rust's default limit of 10 MiB can be hit by a long ignore line full
/// of `?{1000}`-style repeats; raising it keeps such lines working as in Go.
const REGEX_SIZE_LIMIT: usize = 256 << 20;

/// A single cleaned pattern, compiled.
#[derive(Clone, Debug)]
pub struct Pattern {
    text: String,
    exclusion: bool,
    /// A translation error is kept rather than returned from construction:
    /// patternmatcher only notices it when a path is first tested.
    compiled: Result<Compiled, CompileError>,
}

/// Why a pattern's regex could not be built; turned into an [`Error`] naming
/// the pattern when it is needed.
#[derive(Clone, Debug)]
enum CompileError {
    /// Go's regexp parser would reject the translation.
    Syntax(String),
    /// The Rust engine rejected the translation.
    Engine(regex::Error),
}

/// What a path is tested with.
#[derive(Clone, Debug)]
enum Compiled {
    Exact,
    Prefix,
    Suffix,
    Regex(Regex),
}

impl Pattern {
    /// Compiles `text`, which must already be cleaned and stripped of its `!`.
    pub(crate) fn new(text: String, exclusion: bool) -> Self {
        let compiled = compile(&text);
        Pattern {
            text,
            exclusion,
            compiled,
        }
    }

    /// The cleaned pattern, without the `!` of an exclusion.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is an exclusion (`!`) pattern, which re-includes paths.
    pub fn exclusion(&self) -> bool {
        self.exclusion
    }

    /// The compiled test, or the error Go would report on first use.
    pub(crate) fn tester(&self) -> Result<Tester<'_>, Error> {
        match &self.compiled {
            Ok(compiled) => Ok(Tester {
                pattern: self.text.as_bytes(),
                compiled,
            }),
            Err(CompileError::Syntax(reason)) => Err(Error::BadPattern {
                pattern: self.text.clone(),
                reason: reason.clone(),
            }),
            Err(CompileError::Engine(source)) => Err(Error::Regex {
                pattern: self.text.clone(),
                source: Box::new(source.clone()),
            }),
        }
    }
}

/// A successfully compiled pattern, ready to test paths.
#[derive(Clone, Copy)]
pub(crate) struct Tester<'a> {
    pattern: &'a [u8],
    compiled: &'a Compiled,
}

impl Tester<'_> {
    /// Whether the pattern matches `path` itself (parents are the caller's
    /// business).
    pub(crate) fn is_match(self, path: &str) -> bool {
        let pat = self.pattern;
        let bytes = path.as_bytes();
        match self.compiled {
            Compiled::Exact => bytes == pat,
            // Byte slicing on purpose: Go slices the string by bytes, which
            // matters when the pattern starts with a byte-order mark.
            Compiled::Prefix => bytes.starts_with(&pat[..pat.len().saturating_sub(2)]),
            Compiled::Suffix => {
                let suffix = pat.get(2..).unwrap_or_default();
                // `**/foo` must also match `foo` itself.
                bytes.ends_with(suffix) || (suffix.first() == Some(&b'/') && bytes == &suffix[1..])
            }
            Compiled::Regex(re) => re.is_match(path),
        }
    }
}

impl fmt::Display for Pattern {
    /// Writes the cleaned pattern, without the `!` of an exclusion, as Go's
    /// `Pattern.String` does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn compile(text: &str) -> Result<Compiled, CompileError> {
    let (shape, source) = translate(text);
    Ok(match shape {
        Shape::Exact => Compiled::Exact,
        Shape::Prefix => Compiled::Prefix,
        Shape::Suffix => Compiled::Suffix,
        Shape::Regex => {
            let rust = re2::to_rust(&source).map_err(CompileError::Syntax)?;
            let re = RegexBuilder::new(&rust)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(CompileError::Engine)?;
            Compiled::Regex(re)
        }
    })
}
