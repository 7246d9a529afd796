//! The Dockerfile frontend: reads a Dockerfile exactly as BuildKit v0.24's built-in
//! frontend does and lowers it to hearth's build graph.
//!
//! The pipeline has three steps, each usable and testable on its own:
//! 1. [`syntax::parse`]: text to instruction nodes (directives, continuations,
//!    heredocs, flags, JSON and shell forms);
//! 2. [`instructions::to_dockerfile`]: nodes to typed instructions grouped in stages;
//! 3. [`lower`]: stages to a [`hearth_graph::Definition`] plus the image
//!    configuration, for one target.
//!
//! The crate does no I/O: base image configurations come from an
//! [`lower::ImageResolver`] the caller provides. Every step collects all the
//! problems it can find instead of stopping at the first, and reports them as
//! [`diagnostic::Diagnostic`]s located by line.

pub mod diagnostic;
pub mod instructions;
pub mod lower;
pub mod shell;
pub mod syntax;

pub use diagnostic::{Diagnostic, Diagnostics, LineRange, Severity};
pub use instructions::{Dockerfile, Features};
pub use lower::{
    BuildOptions, BuildPlan, ImageResolver, NamedContext, NoCache, OfflineResolver, ResolvedImage,
    named_context_key,
};

/// A Dockerfile read and typed, with everything found along the way.
#[derive(Debug, Clone)]
pub struct ParsedDockerfile {
    /// The typed stages.
    pub dockerfile: Dockerfile,
    /// The `# syntax=` directive, if any.
    pub syntax: Option<String>,
    /// The escape character.
    pub escape: char,
    /// Features the syntax directive enables.
    pub features: Features,
    /// Errors and warnings from parsing and typing.
    pub diagnostics: Vec<Diagnostic>,
}

impl ParsedDockerfile {
    /// True when there are errors.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses and types a Dockerfile. Never fails; see the diagnostics.
pub fn parse(text: &str) -> ParsedDockerfile {
    let parsed = syntax::parse(text);
    let syntax = parsed.directive("syntax").map(str::to_owned);
    let features = Features::from_syntax(syntax.as_deref());
    let mut diagnostics = parsed.diagnostics.clone();
    if let Some(s) = &syntax
        && let Some(directive) = parsed.directives.iter().find(|d| d.name == "syntax")
        && !is_dockerfile_frontend(s)
    {
        diagnostics.push(
            Diagnostic::warning(
                LineRange::single(directive.line),
                format!("syntax {s:?} names a frontend image hearth does not run; using the built-in Dockerfile frontend"),
            )
            .with_rule("UnsupportedSyntax"),
        );
    }
    let dockerfile = instructions::to_dockerfile(&parsed.nodes, features, &mut diagnostics);
    if let Some(check) = parsed.directive("check") {
        apply_check_directive(&mut diagnostics, check);
    }
    diagnostics.sort_by_key(|d| d.lines);
    ParsedDockerfile {
        dockerfile,
        syntax,
        escape: parsed.escape,
        features,
        diagnostics,
    }
}

/// Parses, types and lowers a Dockerfile for the options' target.
pub fn plan(
    text: &str,
    options: &BuildOptions,
    resolver: &dyn ImageResolver,
) -> Result<BuildPlan, Diagnostics> {
    let parsed = parse(text);
    if parsed.has_errors() {
        return Err(Diagnostics(parsed.diagnostics));
    }
    let check = syntax::parse(text).directive("check").map(str::to_owned);
    let result = lower::lower(
        &parsed.dockerfile,
        parsed.escape,
        parsed.features,
        options,
        resolver,
        parsed.diagnostics,
    );
    match (result, check) {
        (Ok(mut plan), Some(check)) => {
            apply_check_directive(&mut plan.warnings, &check);
            if plan.warnings.iter().any(Diagnostic::is_error) {
                return Err(Diagnostics(plan.warnings));
            }
            Ok(plan)
        }
        (result, _) => result,
    }
}

/// Whether a `syntax` value names BuildKit's Dockerfile frontend, which hearth
/// implements itself.
fn is_dockerfile_frontend(syntax: &str) -> bool {
    let image = syntax.split(['@', ' ']).next().unwrap_or_default();
    let name = image
        .rsplit_once(':')
        .map_or(image, |(n, tag)| if tag.contains('/') { image } else { n });
    matches!(
        name,
        "docker/dockerfile"
            | "docker.io/docker/dockerfile"
            | "docker/dockerfile-upstream"
            | "docker.io/docker/dockerfile-upstream"
    )
}

/// `# check=skip=Rule1,Rule2;error=true`: drops skipped lint warnings and, with
/// `error=true`, turns the remaining ones into errors, as BuildKit's build checks do.
fn apply_check_directive(diagnostics: &mut Vec<Diagnostic>, value: &str) {
    let mut skip_all = false;
    let mut skip: Vec<String> = Vec::new();
    let mut as_error = false;
    for option in value.split(';') {
        let Some((key, val)) = option.trim().split_once('=') else {
            continue;
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "skip" => {
                for rule in val.split(',').map(str::trim) {
                    if rule.eq_ignore_ascii_case("all") {
                        skip_all = true;
                    } else {
                        skip.push(rule.to_owned());
                    }
                }
            }
            "error" => as_error = val.trim().eq_ignore_ascii_case("true"),
            _ => {}
        }
    }
    diagnostics.retain(|d| {
        let Some(rule) = d.rule else { return true };
        !(skip_all || skip.iter().any(|s| s.eq_ignore_ascii_case(rule)))
    });
    if as_error {
        for d in diagnostics.iter_mut().filter(|d| d.rule.is_some()) {
            d.severity = Severity::Error;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontend_syntax_names() {
        assert!(is_dockerfile_frontend("docker/dockerfile:1"));
        assert!(is_dockerfile_frontend("docker/dockerfile:1.7-labs"));
        assert!(is_dockerfile_frontend(
            "docker.io/docker/dockerfile-upstream:master@sha256:abc"
        ));
        assert!(!is_dockerfile_frontend("example.com/my/frontend:1"));
    }

    #[test]
    fn check_directive_skips_and_escalates() {
        let text =
            "# check=skip=JSONArgsRecommended;error=true\nFROM scratch\nMAINTAINER me\nCMD echo\n";
        let parsed = parse(text);
        let rules: Vec<_> = parsed
            .diagnostics
            .iter()
            .map(|d| (d.rule, d.severity))
            .collect();
        assert_eq!(rules, vec![(Some("MaintainerDeprecated"), Severity::Error)]);
        let all = parse("# check=skip=all\nFROM scratch\nMAINTAINER me\n");
        assert!(all.diagnostics.is_empty());
    }
}
