//! Fuzzes the whole Dockerfile frontend: parsing, typing and lowering arbitrary text
//! must never panic, and what it produces must be internally consistent.

#![no_main]

use hearth_dockerfile::{BuildOptions, OfflineResolver};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let line_count = text.split('\n').count();

    let parsed = hearth_dockerfile::parse(text);
    for d in &parsed.diagnostics {
        // Every diagnostic must point inside the file.
        assert!(d.lines.start >= 1 && d.lines.start <= d.lines.end, "{d:?}");
        assert!(d.lines.end <= line_count.max(1), "{d:?} beyond {line_count} lines");
    }
    // Parsing is a pure function of the text.
    let again = hearth_dockerfile::parse(text);
    assert_eq!(parsed.diagnostics, again.diagnostics);
    assert_eq!(parsed.dockerfile, again.dockerfile);

    let mut options = BuildOptions::for_host();
    options.build_args.insert("FUZZ".into(), "1".into());
    match hearth_dockerfile::plan(text, &options, &OfflineResolver) {
        Ok(plan) => {
            // Node digests must be reproducible from the frozen nodes.
            for (digest, node) in plan.definition.nodes_in_order() {
                assert_eq!(hearth_graph::node_digest(node).ok(), Some(*digest));
            }
            let _ = plan.definition.dump();
            let _ = serde_json::to_vec(&plan.image);
        }
        Err(diagnostics) => {
            assert!(diagnostics.errors().count() > 0, "an error result must carry an error");
            let _ = diagnostics.render("Dockerfile", text);
        }
    }

    // The lexer alone, on raw text, in its stricter modes.
    let mut lex = hearth_dockerfile::shell::Lex::new('\\');
    let _ = lex.process_words(text, &hearth_dockerfile::shell::NoEnv);
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    let _ = lex.process_word(text, &hearth_dockerfile::shell::NoEnv);
});
