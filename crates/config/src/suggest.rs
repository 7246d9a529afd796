//! "Did you mean" suggestions for misspelt keys and values.
//!
//! Most misspellings in buildkitd.toml are a different word-joining convention
//! (`maxParallelism` for `max-parallelism`, `keep_bytes` for `keepBytes`), so candidates
//! are compared with case and separators removed first, and by edit distance second.

/// The candidate closest to `word`, if any is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wanted = normalize(word);
    if wanted.is_empty() {
        return None;
    }
    // Allow about one edit per three characters, at least one and at most three.
    let budget = (wanted.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == word {
            continue;
        }
        let distance = strsim::damerau_levenshtein(&wanted, &normalize(candidate));
        if distance <= budget && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

fn normalize(word: &str) -> String {
    word.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_typos() {
        let keys = [
            "max-parallelism",
            "gcpolicy",
            "keepBytes",
            "reservedSpace",
            "snapshotter",
        ];
        let cases = [
            ("maxParallelism", Some("max-parallelism")),
            ("max_parallelism", Some("max-parallelism")),
            ("keep_bytes", Some("keepBytes")),
            ("gc-policy", Some("gcpolicy")),
            ("gcpolicies", Some("gcpolicy")),
            ("snapshoter", Some("snapshotter")),
            ("reserved", None),
            ("x", None),
            ("", None),
        ];
        for (word, want) in cases {
            assert_eq!(did_you_mean(word, keys), want, "{word}");
        }
    }
}
