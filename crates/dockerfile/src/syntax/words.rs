//! Splitting a logical line into the instruction keyword, its `--flags` and the rest,
//! and the word splitter used by `ENV`, `LABEL` and `ARG`.
//!
//! Both splitters keep quotes inside the words they return: quote removal happens
//! later, during expansion, because `ENV a="b c"` must keep `b c` as one value.

/// `[\t\v\f\r ]`, the separator BuildKit uses between a keyword and its arguments.
pub(crate) fn is_line_space(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits `s` on the first run of [`is_line_space`] characters.
pub(crate) fn split_first_space(s: &str) -> (&str, Option<&str>) {
    match s.find(is_line_space) {
        Some(start) => {
            let rest = &s[start..];
            let rest = rest.trim_start_matches(is_line_space);
            (&s[..start], Some(rest))
        }
        None => (s, None),
    }
}

/// Splits `s` on every run of [`is_line_space`] characters, keeping empty leading
/// and trailing fields as Go's `regexp.Split` does.
pub(crate) fn split_all_spaces(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        match rest.find(is_line_space) {
            Some(start) => {
                out.push(&rest[..start]);
                rest = rest[start..].trim_start_matches(is_line_space);
            }
            None => {
                out.push(rest);
                return out;
            }
        }
    }
}

/// Splits a logical line into keyword, builder flags and the argument text.
pub(crate) fn split_command(line: &str, escape: char) -> (String, Vec<String>, String) {
    let (keyword, rest) = split_first_space(line.trim());
    let (args, flags) = match rest {
        Some(rest) => extract_builder_flags(rest, escape),
        None => (String::new(), Vec::new()),
    };
    (keyword.to_owned(), flags, args.trim().to_owned())
}

enum Phase {
    Spaces,
    Word,
    Quote(char),
}

/// Takes the leading `--flag[=value]` words off `line`. Quotes group characters and
/// are removed; the escape character escapes the next one. A bare `--` ends the flags.
pub(crate) fn extract_builder_flags(line: &str, escape: char) -> (String, Vec<String>) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut phase = Phase::Spaces;
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        let Some(&(offset, ch)) = chars.get(i) else {
            if matches!(phase, Phase::Word | Phase::Quote(_))
                && word != "--"
                && (blank_ok || !word.is_empty())
            {
                words.push(word);
            }
            return (String::new(), words);
        };
        match phase {
            Phase::Spaces => {
                if ch.is_whitespace() {
                    i += 1;
                    continue;
                }
                let next_is_dash = chars.get(i + 1).map(|&(_, c)| c) == Some('-');
                if ch != '-' || !next_is_dash {
                    return (line[offset..].to_owned(), words);
                }
                phase = Phase::Word;
            }
            Phase::Word => {
                if ch.is_whitespace() {
                    if word == "--" {
                        return (line[offset..].to_owned(), words);
                    }
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                    phase = Phase::Spaces;
                    i += 1;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    blank_ok = true;
                    phase = Phase::Quote(ch);
                    i += 1;
                    continue;
                }
                if ch == escape {
                    match chars.get(i + 1) {
                        None => {
                            i += 1;
                            continue;
                        }
                        Some(&(_, next)) => {
                            word.push(next);
                            i += 2;
                            continue;
                        }
                    }
                }
                word.push(ch);
                i += 1;
            }
            Phase::Quote(quote) => {
                if ch == quote {
                    phase = Phase::Word;
                    i += 1;
                    continue;
                }
                if ch == escape {
                    match chars.get(i + 1) {
                        None => {
                            phase = Phase::Word;
                            i += 1;
                            continue;
                        }
                        Some(&(_, next)) => {
                            word.push(next);
                            i += 2;
                            continue;
                        }
                    }
                }
                word.push(ch);
                i += 1;
            }
        }
    }
}

/// Splits `rest` into words on whitespace, keeping quotes and escapes in the words
/// (BuildKit's `parseWords`).
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut phase = Phase::Spaces;
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        let Some(&ch) = chars.get(i) else {
            if matches!(phase, Phase::Word | Phase::Quote(_)) && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            return words;
        };
        match phase {
            Phase::Spaces => {
                if ch.is_whitespace() {
                    i += 1;
                    continue;
                }
                phase = Phase::Word;
            }
            Phase::Word => {
                if ch.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    phase = Phase::Spaces;
                    i += 1;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    blank_ok = true;
                    phase = Phase::Quote(ch);
                }
                if ch == escape {
                    match chars.get(i + 1) {
                        // A trailing escape is dropped.
                        None => {
                            i += 1;
                            continue;
                        }
                        // Unquoted, the escape and the escaped character are both kept,
                        // even before a quote, so the quote stays literal later.
                        Some(&next) => {
                            word.push(ch);
                            word.push(next);
                            i += 2;
                            continue;
                        }
                    }
                }
                word.push(ch);
                i += 1;
            }
            Phase::Quote(quote) => {
                if ch == quote {
                    phase = Phase::Word;
                }
                // Nothing can be escaped inside single quotes.
                if ch == escape && quote != '\'' {
                    match chars.get(i + 1) {
                        None => {
                            phase = Phase::Word;
                            i += 1;
                            continue;
                        }
                        Some(&next) => {
                            word.push(ch);
                            word.push(next);
                            i += 2;
                            continue;
                        }
                    }
                }
                word.push(ch);
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_command_separates_keyword_flags_and_args() {
        let cases: &[(&str, &str, &[&str], &str)] = &[
            ("RUN echo hi", "RUN", &[], "echo hi"),
            (
                "  copy  --from=a --chown=1:1  src dst ",
                "copy",
                &["--from=a", "--chown=1:1"],
                "src dst",
            ),
            (
                "COPY --chmod=\"7 55\" a b",
                "COPY",
                &["--chmod=7 55"],
                "a b",
            ),
            ("RUN -- --not-a-flag", "RUN", &[], "--not-a-flag"),
            ("RUN --network=none", "RUN", &["--network=none"], ""),
            (
                "RUN --mount=type=cache\\,target=/x ls",
                "RUN",
                &["--mount=type=cache,target=/x"],
                "ls",
            ),
            ("RUN -x", "RUN", &[], "-x"),
            ("EXPOSE", "EXPOSE", &[], ""),
            ("ADD --link='' a b", "ADD", &["--link="], "a b"),
        ];
        for (line, keyword, flags, args) in cases {
            let (k, f, a) = split_command(line, '\\');
            assert_eq!(
                (k.as_str(), f, a.as_str()),
                (
                    *keyword,
                    flags.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    *args
                ),
                "{line:?}"
            );
        }
    }

    #[test]
    fn parse_words_keeps_quotes_and_escapes() {
        let cases: &[(&str, &[&str])] = &[
            ("a b  c", &["a", "b", "c"]),
            ("a=\"b c\" d", &["a=\"b c\"", "d"]),
            ("a='b \\' c", &["a='b \\'", "c"]),
            ("a\\ b c", &["a\\ b", "c"]),
            ("x=\"\" y", &["x=\"\"", "y"]),
            ("\"\"", &["\"\""]),
            ("end\\", &["end"]),
            ("", &[]),
        ];
        for (input, want) in cases {
            assert_eq!(parse_words(input, '\\'), *want, "{input:?}");
        }
    }

    #[test]
    fn space_splitting_matches_go_regexp_split() {
        assert_eq!(split_all_spaces("a  b\tc"), vec!["a", "b", "c"]);
        assert_eq!(split_all_spaces("a "), vec!["a", ""]);
        assert_eq!(split_first_space("ENV a b c"), ("ENV", Some("a b c")));
        assert_eq!(split_first_space("ENV"), ("ENV", None));
    }
}
