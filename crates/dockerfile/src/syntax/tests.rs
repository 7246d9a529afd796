//! Table tests for the line grammar.

use super::*;

/// keyword, flags, args, json, (first line, last line)
type Summary = (String, Vec<String>, Vec<String>, bool, (usize, usize));

fn nodes(text: &str) -> Vec<Summary> {
    let parsed = parse(text);
    let errors: Vec<_> = parsed.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "unexpected errors: {errors:?}");
    parsed
        .nodes
        .into_iter()
        .map(|n| {
            (
                n.keyword,
                n.flags,
                n.args,
                n.json,
                (n.lines.start, n.lines.end),
            )
        })
        .collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn keywords_are_case_insensitive_and_keep_their_spelling() {
    let got = nodes("from busybox\nRun echo hi\nCOPY a b\n");
    assert_eq!(got[0].0, "from");
    assert_eq!(got[1].0, "Run");
    assert_eq!(got[1].2, s(&["echo hi"]));
    assert_eq!(got[2].2, s(&["a", "b"]));
    assert_eq!(got[2].4, (3, 3));
}

#[test]
fn continuations_comments_and_whitespace() {
    let text = "FROM busybox\nRUN echo a \\\n# a comment inside\n    b \\   \n\n  c\nRUN done\n";
    let parsed = parse(text);
    let run = &parsed.nodes[1];
    // Continuation lines keep their leading whitespace; the comment line vanishes;
    // trailing blanks after the escape are allowed; the blank line is an empty
    // continuation, which BuildKit accepts with a warning.
    assert_eq!(run.args, s(&["echo a     b   c"]));
    assert_eq!((run.lines.start, run.lines.end), (2, 6));
    assert_eq!(parsed.nodes[2].lines.start, 7);
    let warnings: Vec<_> = parsed
        .diagnostics
        .iter()
        .filter(|d| !d.is_error())
        .collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].rule, Some("NoEmptyContinuation"));
    assert_eq!(warnings[0].lines.start, 6);
}

#[test]
fn escaped_escape_is_not_a_continuation() {
    let got = nodes("FROM x\nRUN echo \\\\\nRUN next\n");
    assert_eq!(got[1].2, s(&["echo \\\\"]));
    assert_eq!(got[2].0, "RUN");
}

#[test]
fn escape_directive_changes_continuation_and_must_come_first() {
    let text = "# escape=`\nFROM x\nRUN dir c:\\ `\n  /w\n";
    let parsed = parse(text);
    assert_eq!(parsed.escape, '`');
    assert_eq!(parsed.nodes[1].args, s(&["dir c:\\   /w"]));
    assert_eq!(parsed.directive("escape"), Some("`"));

    let late = parse("FROM x\n# escape=`\nRUN a `\n");
    assert_eq!(
        late.escape, '\\',
        "a directive after an instruction is a comment"
    );
    assert!(late.directives.is_empty());

    let after_blank = parse("\n# escape=`\nFROM x\n");
    assert!(
        after_blank.directives.is_empty(),
        "a blank line ends the directive block"
    );

    let after_comment = parse("# hello\n# escape=`\nFROM x\n");
    assert!(after_comment.directives.is_empty());
}

#[test]
fn directive_block_accepts_all_three_and_rejects_repeats() {
    let parsed = parse("# syntax=docker/dockerfile:1\n# check=skip=all\n#escape=\\\nFROM x\n");
    let names: Vec<_> = parsed
        .directives
        .iter()
        .map(|d| (d.name.as_str(), d.line))
        .collect();
    assert_eq!(names, vec![("syntax", 1), ("check", 2), ("escape", 3)]);
    let repeated = parse("# escape=`\n# escape=\\\nFROM x\n");
    assert_eq!(
        repeated.diagnostics[0].message,
        "only one escape parser directive can be used"
    );
    assert_eq!(repeated.diagnostics[0].lines.start, 2);
    let bad = parse("# escape=x\nFROM x\n");
    assert_eq!(
        bad.diagnostics[0].message,
        "invalid escape token 'x' does not match ` or \\"
    );
}

#[test]
fn byte_order_mark_is_ignored() {
    let got = nodes("\u{feff}FROM busybox\n");
    assert_eq!(got[0].0, "FROM");
}

#[test]
fn exec_and_shell_forms() {
    let got = nodes("FROM x\nCMD [\"a\", \"b c\"]\nCMD [a, b]\nENTRYPOINT []\n");
    assert_eq!((got[1].2.clone(), got[1].3), (s(&["a", "b c"]), true));
    assert_eq!((got[2].2.clone(), got[2].3), (s(&["[a, b]"]), false));
    assert_eq!((got[3].2.clone(), got[3].3), (vec![], true));
}

#[test]
fn non_string_json_is_an_error_and_parsing_continues() {
    let parsed = parse("FROM x\nRUN [\"a\", 1]\nCOPY [\"a\", {}]\nRUN ok\n");
    let errors: Vec<_> = parsed.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].lines.start, 2);
    assert_eq!(errors[1].lines.start, 3);
    assert_eq!(
        errors[0].message,
        "when using JSON array syntax, arrays must be comprised of strings only"
    );
    assert_eq!(parsed.nodes.len(), 2, "FROM and the last RUN");
}

#[test]
fn flags_are_split_off() {
    let got =
        nodes("FROM --platform=linux/amd64 busybox AS base\nCOPY --from=base --chown=1:2 /a /b\n");
    assert_eq!(got[0].1, s(&["--platform=linux/amd64"]));
    assert_eq!(got[0].2, s(&["busybox", "AS", "base"]));
    assert_eq!(got[1].1, s(&["--from=base", "--chown=1:2"]));
}

#[test]
fn env_label_and_arg_forms() {
    let got = nodes("FROM x\nENV A=1 B=\"2 3\"\nENV C legacy value\nLABEL \"k\"=v\nARG X Y=2 Z=\n");
    assert_eq!(got[1].2, s(&["A", "1", "=", "B", "\"2 3\"", "="]));
    assert_eq!(got[2].2, s(&["C", "legacy value", ""]));
    assert_eq!(got[3].2, s(&["\"k\"", "v", "="]));
    assert_eq!(got[4].2, s(&["X", "Y=2", "Z="]));
}

#[test]
fn heredocs_attach_bodies_and_advance_lines() {
    let text = "FROM x\nRUN <<EOF\necho one\necho two\nEOF\nCOPY <<a <<-'b' /dst/\nA\na\n\t\tB\n\tb\nRUN after\n";
    let parsed = parse(text);
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    let run = &parsed.nodes[1];
    assert_eq!(run.heredocs.len(), 1);
    assert_eq!(run.heredocs[0].content, "echo one\necho two\n");
    assert!(run.heredocs[0].expand);
    assert_eq!((run.lines.start, run.lines.end), (2, 5));
    let copy = &parsed.nodes[2];
    assert_eq!(copy.heredocs.len(), 2);
    assert_eq!(copy.heredocs[0].content, "A\n");
    assert_eq!(copy.heredocs[1].name, "b");
    assert!(!copy.heredocs[1].expand);
    assert!(copy.heredocs[1].chomp);
    assert_eq!(
        copy.heredocs[1].content, "\t\tB\n",
        "content is chomped later, when used"
    );
    assert_eq!((copy.lines.start, copy.lines.end), (6, 10));
    assert_eq!(parsed.nodes[3].lines.start, 11);
}

#[test]
fn heredocs_only_in_run_copy_add_and_not_in_json_form() {
    let parsed = parse("FROM x\nENV A=<<EOF\nRUN [\"cat\", \"<<EOF\"]\nRUN x\n");
    assert!(parsed.nodes.iter().all(|n| n.heredocs.is_empty()));
    assert_eq!(parsed.nodes.len(), 4);
}

#[test]
fn onbuild_heredoc_belongs_to_the_wrapped_instruction() {
    let parsed = parse("FROM x\nONBUILD RUN <<EOF\necho hi\nEOF\n");
    let on = &parsed.nodes[1];
    assert_eq!(on.args, s(&["RUN", "<<EOF"]));
    assert_eq!(on.heredocs[0].content, "echo hi\n");
}

#[test]
fn unterminated_heredoc_is_an_error() {
    let parsed = parse("FROM x\nRUN <<EOF\necho\n");
    let err = parsed.diagnostics.iter().find(|d| d.is_error()).unwrap();
    assert_eq!(
        err.message,
        "unterminated heredoc (no line \"EOF\" closes it)"
    );
    assert_eq!((err.lines.start, err.lines.end), (2, 3));
}

#[test]
fn empty_file_has_no_instructions() {
    let parsed = parse("# only a comment\n\n");
    assert_eq!(parsed.diagnostics[0].message, "file with no instructions");
}

#[test]
fn file_ending_in_a_continuation_is_accepted_with_a_warning() {
    let parsed = parse("FROM x\nRUN echo hi \\\n");
    assert_eq!(parsed.nodes[1].args, s(&["echo hi"]));
    assert_eq!(parsed.diagnostics.len(), 1);
    assert!(!parsed.diagnostics[0].is_error());
    assert_eq!(parsed.diagnostics[0].rule, Some("NoTrailingContinuation"));
}

#[test]
fn over_long_lines_stop_the_parse() {
    let text = format!("FROM x\nRUN {}\n", "a".repeat(70_000));
    let parsed = parse(&text);
    assert_eq!(parsed.nodes.len(), 1);
    assert_eq!(
        parsed.diagnostics[0].message,
        "dockerfile line greater than max allowed size of 65535"
    );
    assert_eq!(parsed.diagnostics[0].lines.start, 2);
}

#[test]
fn crlf_line_endings() {
    let got = nodes("FROM x\r\nRUN a \\\r\n  b\r\n");
    assert_eq!(got[1].2, s(&["a   b"]));
}
