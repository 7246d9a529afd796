//! Heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`) in RUN, COPY and ADD.
//!
//! Detection reuses the shell lexer the way BuildKit does: the line is split into words
//! with quotes and escapes kept, and every word of the form `[fd]<<[-]NAME` opens a
//! heredoc. The delimiter is lexed twice, with and without quote removal; if the quote
//! counts differ, part of it was quoted and the body is not expanded.

use crate::shell::{Lex, NoEnv, ShellError};

/// A heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Heredoc {
    /// The delimiter word, quotes removed; also the file name for COPY/ADD.
    pub name: String,
    /// The file descriptor before `<<` (0 when absent).
    pub file_descriptor: u32,
    /// Whether variables in the body are expanded (delimiter unquoted).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from body lines and the delimiter line.
    pub chomp: bool,
    /// The body, each line with its newline.
    pub content: String,
}

/// Parses one word as a heredoc opener; `None` when it is not one.
pub(crate) fn parse_heredoc_word(word: &str) -> Result<Option<Heredoc>, ShellError> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches([' ', '\t', '\n', '\x0c', '\r']);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let file_descriptor = word[..digits].parse::<u32>().unwrap_or(0);

    let mut lex = Lex::new('\\');
    lex.skip_unset_env = true;
    let words = lex.process_words(rest, &NoEnv)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    lex.raw_quotes = true;
    let raw_words = lex.process_words(rest, &NoEnv)?;
    let Some(raw) = raw_words.first() else {
        return Ok(None);
    };
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    Ok(Some(Heredoc {
        name: name.clone(),
        file_descriptor,
        expand: quotes(name) == quotes(raw),
        chomp,
        content: String::new(),
    }))
}

/// Every heredoc opened on a logical line, in order.
pub(crate) fn heredocs_in_line(line: &str) -> Result<Vec<Heredoc>, ShellError> {
    let mut lex = Lex::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    // BuildKit ignores a lexing error here and looks at no words at all.
    let words = lex.process_words(line, &NoEnv).unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc_word(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Strips leading tabs from every line of a `<<-` body.
pub(crate) fn chomp_heredoc_content(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|line| line.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(word: &str) -> Option<(String, u32, bool, bool)> {
        parse_heredoc_word(word)
            .unwrap()
            .map(|h| (h.name, h.file_descriptor, h.expand, h.chomp))
    }

    #[test]
    fn heredoc_words() {
        assert_eq!(doc("<<EOF"), Some(("EOF".into(), 0, true, false)));
        assert_eq!(doc("<<-EOF"), Some(("EOF".into(), 0, true, true)));
        assert_eq!(doc("<< EOF"), Some(("EOF".into(), 0, true, false)));
        assert_eq!(doc("<<'EOF'"), Some(("EOF".into(), 0, false, false)));
        assert_eq!(doc("<<\"EOF\""), Some(("EOF".into(), 0, false, false)));
        assert_eq!(doc("<<E\"O\"F"), Some(("EOF".into(), 0, false, false)));
        assert_eq!(doc("3<<EOF"), Some(("EOF".into(), 3, true, false)));
        assert_eq!(doc("<<"), None);
        assert_eq!(doc("<<<EOF"), None);
        assert_eq!(doc("a<<EOF"), None);
        assert_eq!(doc("<<EOF more"), None);
    }

    #[test]
    fn several_heredocs_on_one_line() {
        let docs = heredocs_in_line("COPY <<one <<-'two' /dest/").unwrap();
        let names: Vec<_> = docs
            .iter()
            .map(|d| (d.name.as_str(), d.expand, d.chomp))
            .collect();
        assert_eq!(names, vec![("one", true, false), ("two", false, true)]);
        assert!(heredocs_in_line("RUN echo '<<EOF'").unwrap().is_empty());
    }

    #[test]
    fn chomp_strips_only_leading_tabs() {
        assert_eq!(chomp_heredoc_content("\t\ta\n \tb\n\tc"), "a\n \tb\nc");
    }
}
