//! Shell-like word processing: quote removal, escapes and `$VAR` expansion, exactly as
//! BuildKit's `frontend/dockerfile/shell` lexer does it.
//!
//! BuildKit does not run a shell to expand Dockerfile words; it has its own small
//! lexer with several quirks (an escape before an ordinary character inside double
//! quotes is kept, `<<` swallows the spaces after it, `${v:#x}` is rejected). hearth
//! must reproduce them, so this module follows that lexer step by step rather than
//! POSIX. The lexer works on characters and is configured per use with [`Lex`] flags.

mod pattern;

use std::collections::BTreeSet;

pub use pattern::PatternError;

/// Looks up variables for expansion.
pub trait EnvGetter {
    /// The value of `key`, if set (possibly empty).
    fn get(&self, key: &str) -> Option<&str>;
    /// All keys, in definition order (used for suggestions).
    fn keys(&self) -> Vec<&str>;
}

/// An environment with no variables.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEnv;

impl EnvGetter for NoEnv {
    fn get(&self, _key: &str) -> Option<&str> {
        None
    }
    fn keys(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// Why a word could not be processed. Messages match BuildKit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    /// `${` without `}`.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// `${}`, `${:x}` and friends.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// `${v/pattern` without the second `/`.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// A modifier BuildKit does not support, e.g. `${v:#x}`.
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// A quote was not closed.
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(&'static str),
    /// `${v?message}` with `v` unset, or `${v:?message}` with `v` empty.
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The user's message or BuildKit's default.
        message: String,
    },
    /// A bad `#`, `%` or `/` pattern.
    #[error("invalid pattern ({pattern}) in substitution: {source}")]
    Pattern {
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        source: PatternError,
    },
    /// Wraps an error with the word being processed, as BuildKit does.
    #[error("failed to process {word}: {source}")]
    InWord {
        /// The word, quoted like Go's `%q`.
        word: String,
        /// The underlying error.
        source: Box<ShellError>,
    },
}

impl ShellError {
    /// The innermost error, without the "failed to process" wrapper.
    pub fn root_cause(&self) -> &ShellError {
        match self {
            ShellError::InWord { source, .. } => source.root_cause(),
            other => other,
        }
    }
}

/// The result of processing one word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Processed {
    /// The word with quotes removed and variables expanded.
    pub result: String,
    /// The word split into fields after expansion (quoted parts stay whole).
    pub words: Vec<String>,
    /// Variables that were looked up and found.
    pub matched: BTreeSet<String>,
    /// Variables that were looked up and not found.
    pub unmatched: BTreeSet<String>,
}

/// A configured lexer. The flags mirror BuildKit's `shell.Lex` fields.
#[derive(Debug, Clone, Copy)]
pub struct Lex {
    escape: char,
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset_env: bool,
}

impl Lex {
    /// A lexer using `escape` (`\` or `` ` ``) as its escape character.
    pub fn new(escape: char) -> Self {
        Self {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// Processes `word` as one word: spaces between fields are kept.
    pub fn process_word(&self, word: &str, env: &dyn EnvGetter) -> Result<Processed, ShellError> {
        self.process(word, env)
    }

    /// Processes `word` and returns its fields.
    pub fn process_words(
        &self,
        word: &str,
        env: &dyn EnvGetter,
    ) -> Result<Vec<String>, ShellError> {
        self.process(word, env).map(|p| p.words)
    }

    fn process(&self, word: &str, env: &dyn EnvGetter) -> Result<Processed, ShellError> {
        let mut chars: Vec<char> = word.chars().collect();
        // Go's text/scanner drops a byte-order mark at the very start of its input.
        if chars.first() == Some(&'\u{feff}') {
            chars.remove(0);
        }
        let mut sw = ShellWord {
            lex: *self,
            chars,
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        };
        match sw.process_stop_on(None, self.raw_escapes) {
            Ok((result, words)) => Ok(Processed {
                result,
                words,
                matched: sw.matched,
                unmatched: sw.unmatched,
            }),
            Err(err) => Err(ShellError::InWord {
                word: go_quote(word),
                source: Box::new(err),
            }),
        }
    }
}

/// Quotes a string the way Go's `%q` does for printable text.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Accumulates fields the way BuildKit's `wordsStruct` does: unquoted whitespace
/// separates fields, raw (quoted or escaped) characters never do.
#[derive(Default)]
struct Fields {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Fields {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() && self.in_word {
            if !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else if !ch.is_whitespace() {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }

    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(std::mem::take(&mut self.buf));
        }
        self.words
    }
}

struct ShellWord<'a> {
    lex: Lex,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn EnvGetter,
    raw_escapes: bool,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Processes characters until `stop` (consumed) or the end of input.
    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), ShellError> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let result = self.process_stop_on_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn process_stop_on_inner(
        &mut self,
        stop: Option<char>,
    ) -> Result<(String, Vec<String>), ShellError> {
        let mut result = String::new();
        let mut fields = Fields::default();
        let quotes_are_special = !self.lex.skip_process_quotes;
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, fields.finish()));
            }
            let special = match ch {
                '$' => Some(self.process_dollar()?),
                '<' => Some(self.process_possible_heredoc()),
                '\'' if quotes_are_special => Some(self.process_single_quote()?),
                '"' if quotes_are_special => Some(self.process_double_quote()?),
                _ => None,
            };
            if let Some(text) = special {
                result.push_str(&text);
                if ch == '$' {
                    fields.add_string(&text);
                } else {
                    fields.add_raw_string(&text);
                }
                continue;
            }
            self.next();
            if ch == self.lex.escape {
                if self.raw_escapes {
                    fields.add_raw_char(ch);
                    result.push(ch);
                }
                // An escape at the very end of the word is dropped.
                let Some(escaped) = self.next() else {
                    break;
                };
                fields.add_raw_char(escaped);
                result.push(escaped);
            } else {
                fields.add_char(ch);
                result.push(ch);
            }
        }
        if let Some(stop) = stop {
            return Err(match stop {
                '}' => ShellError::Unterminated("}"),
                '/' => ShellError::Unterminated("/"),
                _ => ShellError::Unterminated("character"),
            });
        }
        Ok((result, fields.finish()))
    }

    fn process_single_quote(&mut self) -> Result<String, ShellError> {
        let mut out = String::new();
        if let Some(q) = self.next()
            && self.lex.raw_quotes
        {
            out.push(q);
        }
        loop {
            match self.next() {
                None => return Err(ShellError::Unterminated("single-quote")),
                Some('\'') => {
                    if self.lex.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, ShellError> {
        let mut out = String::new();
        if let Some(q) = self.next()
            && self.lex.raw_quotes
        {
            out.push(q);
        }
        loop {
            match self.peek() {
                None => return Err(ShellError::Unterminated("double-quote")),
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    out.push_str(&value);
                }
                Some(_) => {
                    let Some(mut ch) = self.next() else { continue };
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            out.push(ch);
                        }
                        match self.peek() {
                            // An escape right before the end is ignored; the missing
                            // closing quote is reported on the next round.
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.lex.escape => {
                                self.next();
                                ch = next;
                            }
                            // Any other escaped character keeps its escape, as in sh.
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    fn process_dollar(&mut self) -> Result<String, ShellError> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(match self.get_env(&name) {
                Some(value) => value,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err(ShellError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ShellError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.process_name();
        let modifier = self.next();
        // Go prints the end of input as the replacement character.
        let mut chs = modifier.unwrap_or('\u{fffd}').to_string();
        match modifier {
            Some('}') => Ok(match self.get_env(&name) {
                Some(value) => value,
                None if self.lex.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                let mut null_is_unset = false;
                let mut op = modifier;
                if modifier == Some(':') {
                    null_is_unset = true;
                    op = self.next();
                    chs.push(op.unwrap_or('\u{fffd}'));
                }
                let pattern_op = matches!(op, Some('#' | '%'));
                if null_is_unset && pattern_op {
                    return Err(ShellError::UnsupportedModifier(chs));
                }
                let word = match self.process_stop_on(Some('}'), pattern_op) {
                    Ok((word, _)) => word,
                    Err(err) => {
                        if self.peek().is_none() {
                            return Err(ShellError::MissingBrace);
                        }
                        return Err(err);
                    }
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{chs}{word}}}"));
                }
                let unset_or_null = match &value {
                    None => true,
                    Some(v) => null_is_unset && v.is_empty(),
                };
                match op {
                    Some('-') => Ok(if unset_or_null {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    Some('+') => Ok(if unset_or_null { String::new() } else { word }),
                    Some('?') => {
                        let default_message = match &value {
                            None => "is not allowed to be unset",
                            Some(_) if unset_or_null => "is not allowed to be empty",
                            Some(v) => return Ok(v.clone()),
                        };
                        let message = if word.is_empty() {
                            default_message.to_owned()
                        } else {
                            word
                        };
                        Err(ShellError::Required { name, message })
                    }
                    Some(c @ ('%' | '#')) => {
                        let (greedy, pattern) = match word.strip_prefix(c) {
                            Some(rest) => (true, rest.to_owned()),
                            None => (false, word),
                        };
                        let value = value.unwrap_or_default();
                        let trimmed = if c == '%' {
                            pattern::trim_suffix(&pattern, &value, greedy)
                        } else {
                            pattern::trim_prefix(&pattern, &value, greedy)
                        };
                        trimmed.map_err(|source| ShellError::Pattern { pattern, source })
                    }
                    _ => Err(ShellError::UnsupportedModifier(chs)),
                }
            }
            Some('/') => {
                let replace_all = self.peek() == Some('/');
                if replace_all {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((p, _)) => p,
                    Err(err) => {
                        if self.peek().is_none() {
                            return Err(ShellError::MissingSlash);
                        }
                        return Err(err);
                    }
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((r, _)) => r,
                    Err(err) => {
                        if self.peek().is_none() {
                            return Err(ShellError::MissingBrace);
                        }
                        return Err(err);
                    }
                };
                let value = self.get_env(&name);
                let Some(value) = value else {
                    if self.lex.skip_unset_env {
                        return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                    }
                    return pattern::replace("", &pattern, &replacement, replace_all)
                        .map_err(|source| ShellError::Pattern { pattern, source });
                };
                pattern::replace(&value, &pattern, &replacement, replace_all)
                    .map_err(|source| ShellError::Pattern { pattern, source })
            }
            _ => Err(ShellError::UnsupportedModifier(chs)),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(d) = self.peek() {
                    if !d.is_numeric() {
                        break;
                    }
                    self.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && is_special_param(ch) {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphabetic() && !ch.is_numeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".to_owned();
        }
        self.next();
        // The spaces between `<<` and the delimiter stay attached, so the parser sees
        // `<< EOF` as one word.
        let mut out = "<<".to_owned();
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            out.push(c);
            self.next();
        }
        out
    }

    fn get_env(&mut self, name: &str) -> Option<String> {
        match self.env.get(name) {
            Some(v) => {
                self.matched.insert(name.to_owned());
                Some(v.to_owned())
            }
            None => {
                self.unmatched.insert(name.to_owned());
                None
            }
        }
    }
}

/// POSIX special parameters (`$@`, `$*`, `$#`, …), which name a one-character variable.
fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

#[cfg(test)]
mod tests;
