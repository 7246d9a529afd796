//! Dispatching instructions that change the image configuration (and WORKDIR, which
//! also creates a directory), plus the expansion step every instruction goes through.

use hearth_core::image::{EmptyObject, History};
use hearth_graph::op::{Chown, FileAction, FileOp, MkdirAction, UserRef};
use hearth_graph::{NodeMetadata, Op};

use super::stage::PendingCommand;
use super::{Lowering, expose, paths, signal, source_range};
use crate::diagnostic::Diagnostic;
use crate::instructions::{ArgDef, Command, CommandLine, KeyValue};
use crate::shell::{EnvGetter, Lex, go_quote};

/// BuildKit's marker in history comments.
pub(crate) const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// Parses `user[:group]` the way `llb.WithUser` does: numbers (and `root`) are ids,
/// anything else a name to look up in the image.
pub(crate) fn chown_from(spec: &str) -> Chown {
    let to_ref = |s: &str| -> UserRef {
        if s == "root" {
            return UserRef::Id(0);
        }
        match s.parse::<i32>() {
            Ok(id) if id >= 0 => UserRef::Id(id.unsigned_abs()),
            _ => UserRef::Name(s.to_owned()),
        }
    };
    match spec.split_once(':') {
        Some((user, group)) => Chown {
            user: Some(to_ref(user)),
            group: Some(to_ref(group)),
        },
        None => Chown {
            user: Some(to_ref(spec)),
            group: None,
        },
    }
}

/// The command line with the stage's shell in front (shell form).
pub(crate) fn with_shell(shell: &[String], os: &str, args: &[String]) -> Vec<String> {
    let mut out: Vec<String> = if !shell.is_empty() {
        shell.to_vec()
    } else if os == "windows" {
        vec!["cmd".into(), "/S".into(), "/C".into()]
    } else {
        vec!["/bin/sh".into(), "-c".into()]
    };
    out.push(args.join(" "));
    out
}

/// Go's `%q` of a string slice: `["a" "b"]`.
pub(crate) fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// Go's `%v` of a string slice: `[a b]`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `time.Duration.String()` for non-negative nanoseconds.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim_float(nanos as f64 / 1e3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim_float(nanos as f64 / 1e6));
    }
    let total_seconds = nanos as f64 / 1e9;
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos % 3_600_000_000_000) / 60_000_000_000;
    let seconds = total_seconds - (hours * 3600 + minutes * 60) as f64;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}s", trim_float(seconds)));
    out
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.9}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

impl Lowering<'_> {
    pub(crate) fn commit_history(
        &mut self,
        index: usize,
        message: String,
        with_layer: bool,
        with_state: bool,
    ) {
        let created_by = if with_state {
            format!("{message} # buildkit")
        } else {
            message
        };
        self.stages.states[index].image.history.push(History {
            created: None,
            created_by,
            author: String::new(),
            comment: HISTORY_COMMENT.to_owned(),
            empty_layer: !with_layer,
        });
    }

    /// Expands one word against the stage's current variables.
    pub(crate) fn expand(&self, index: usize, word: &str) -> Result<String, String> {
        self.scope
            .lex
            .process_word(word, &self.stages.states[index].state.env)
            .map(|p| p.result)
            .map_err(|e| e.to_string())
    }

    /// Expands everything BuildKit expands before dispatch (not ARG, which handles
    /// its own defaults, and not CMD/ENTRYPOINT/SHELL/HEALTHCHECK, which are never
    /// expanded by the builder).
    fn expand_command(&self, index: usize, command: &mut Command) -> Result<(), String> {
        let expand = |w: &str| self.expand(index, w);
        let expand_kv = |kvs: &mut Vec<KeyValue>| -> Result<(), String> {
            for kv in kvs.iter_mut() {
                kv.key = expand(&kv.key)?;
                kv.value = expand(&kv.value)?;
            }
            Ok(())
        };
        match command {
            Command::Env(kvs) | Command::Label(kvs) => expand_kv(kvs)?,
            Command::Add(add) => {
                add.chown = expand(&add.chown)?;
                add.chmod = expand(&add.chmod)?;
                add.checksum = expand(&add.checksum)?;
                for s in add.paths.sources.iter_mut() {
                    *s = expand(s)?;
                }
                add.paths.dest = expand(&add.paths.dest)?;
                self.expand_inline(index, &mut add.paths.inline)?;
            }
            Command::Copy(copy) => {
                copy.chown = expand(&copy.chown)?;
                copy.chmod = expand(&copy.chmod)?;
                for s in copy.paths.sources.iter_mut() {
                    *s = expand(s)?;
                }
                copy.paths.dest = expand(&copy.paths.dest)?;
                self.expand_inline(index, &mut copy.paths.inline)?;
            }
            Command::Workdir(p) | Command::User(p) | Command::StopSignal(p) => *p = expand(p)?,
            Command::Volume(vs) => {
                for v in vs.iter_mut() {
                    *v = expand(v)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Heredoc files are expanded with quotes taken literally, as a shell would
    /// inside an unquoted heredoc.
    fn expand_inline(
        &self,
        index: usize,
        inline: &mut [crate::instructions::InlineSource],
    ) -> Result<(), String> {
        let mut lex = Lex::new('\\');
        lex.skip_process_quotes = true;
        for source in inline.iter_mut().filter(|s| s.expand) {
            source.data = lex
                .process_word(&source.data, &self.stages.states[index].state.env)
                .map(|p| p.result)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    pub(crate) fn dispatch(
        &mut self,
        index: usize,
        pending: &PendingCommand,
    ) -> Result<(), String> {
        self.stages.states[index].cmd_is_onbuild = pending.is_onbuild;
        let mut command = pending.instruction.command.clone();
        self.expand_command(index, &mut command)?;
        match command {
            Command::Env(kvs) => self.dispatch_env(index, &kvs),
            Command::Label(kvs) => {
                let mut message = String::from("LABEL");
                for kv in &kvs {
                    self.stages.states[index]
                        .image
                        .config
                        .labels
                        .insert(kv.key.clone(), kv.value.clone());
                    message.push_str(&format!(" {}={}", kv.key, kv.value));
                }
                self.commit_history(index, message, false, false);
                Ok(())
            }
            Command::Maintainer(name) => {
                self.stages.states[index].image.author = name.clone();
                self.commit_history(index, format!("MAINTAINER {name}"), false, false);
                Ok(())
            }
            Command::Workdir(path) => {
                self.dispatch_workdir(index, &path, Some(&pending.instruction))
            }
            Command::User(user) => {
                let st = &mut self.stages.states[index];
                st.state.user = user.clone();
                st.image.config.user = user.clone();
                self.commit_history(index, format!("USER {user}"), false, false);
                Ok(())
            }
            Command::Volume(volumes) => {
                for v in &volumes {
                    if v.is_empty() {
                        return Err("VOLUME specified can not be an empty string".to_owned());
                    }
                    self.stages.states[index]
                        .image
                        .config
                        .volumes
                        .insert(v.clone(), EmptyObject {});
                }
                self.commit_history(index, format!("VOLUME {}", go_list(&volumes)), false, false);
                Ok(())
            }
            Command::StopSignal(sig) => {
                signal::validate(&sig)?;
                self.stages.states[index].image.config.stop_signal = sig.clone();
                self.commit_history(index, format!("STOPSIGNAL {sig}"), false, false);
                Ok(())
            }
            Command::Shell(shell) => {
                self.stages.states[index].image.config.shell = shell.clone();
                self.commit_history(index, format!("SHELL {}", go_list(&shell)), false, false);
                Ok(())
            }
            Command::Cmd(line) => {
                let args = self.command_args(index, &line, "CMD", &pending.instruction);
                let st = &mut self.stages.states[index];
                st.cmd_set = true;
                st.image.config.cmd = args.clone();
                st.image.config.args_escaped = true;
                self.commit_history(index, format!("CMD {}", go_quote_list(&args)), false, false);
                Ok(())
            }
            Command::Entrypoint(line) => {
                let args = self.command_args(index, &line, "ENTRYPOINT", &pending.instruction);
                let st = &mut self.stages.states[index];
                st.image.config.entrypoint = args.clone();
                if !st.cmd_set {
                    st.image.config.cmd.clear();
                }
                self.commit_history(
                    index,
                    format!("ENTRYPOINT {}", go_quote_list(&args)),
                    false,
                    false,
                );
                Ok(())
            }
            Command::Healthcheck(check) => {
                let message = format!(
                    "HEALTHCHECK &{{{} {:?} {:?} {:?} {:?} '\\x{:02x}'}}",
                    go_quote_list(&check.test),
                    go_duration(check.interval),
                    go_duration(check.timeout),
                    go_duration(check.start_period),
                    go_duration(check.start_interval),
                    check.retries
                );
                self.stages.states[index].image.config.healthcheck = Some(check);
                self.commit_history(index, message, false, false);
                Ok(())
            }
            Command::Expose(ports) => {
                let mut all = Vec::new();
                for port in &ports {
                    let words = self
                        .scope
                        .lex
                        .process_words(port, &self.stages.states[index].state.env)
                        .map_err(|e| e.to_string())?;
                    for word in words {
                        if word.chars().any(char::is_uppercase) && word.contains('/') {
                            self.diagnostics.push(
                                Diagnostic::warning(
                                    pending.instruction.lines,
                                    format!("Defined protocol '{word}' in EXPOSE instruction should be lowercase"),
                                )
                                .with_rule("ExposeProtoCasing"),
                            );
                        }
                        all.extend(expose::parse_port(&word)?);
                    }
                }
                for port in &all {
                    self.stages.states[index]
                        .image
                        .config
                        .exposed_ports
                        .insert(port.clone(), EmptyObject {});
                }
                let listed: Vec<String> = all.iter().map(|p| format!("{p}:{{}}")).collect();
                self.commit_history(
                    index,
                    format!("EXPOSE map[{}]", listed.join(" ")),
                    false,
                    false,
                );
                Ok(())
            }
            Command::Arg(defs) => self.dispatch_arg(index, defs),
            Command::Onbuild(expression) => {
                self.stages.states[index]
                    .image
                    .config
                    .on_build
                    .push(expression);
                Ok(())
            }
            Command::Run(run) => {
                self.dispatch_run(index, run, &pending.sources, &pending.instruction)
            }
            Command::Copy(copy) => {
                self.dispatch_copy_command(index, copy, &pending.sources, &pending.instruction)
            }
            Command::Add(add) => self.dispatch_add_command(index, add, &pending.instruction),
        }
    }

    fn command_args(
        &mut self,
        index: usize,
        line: &CommandLine,
        name: &str,
        instruction: &crate::instructions::Instruction,
    ) -> Vec<String> {
        let st = &self.stages.states[index];
        if !line.prepend_shell {
            return line.args.clone();
        }
        if st.image.config.shell.is_empty() {
            self.diagnostics.push(
                Diagnostic::warning(
                    instruction.lines,
                    format!("JSON arguments recommended for {name} to prevent unintended behavior related to OS signals"),
                )
                .with_rule("JSONArgsRecommended"),
            );
        }
        let st = &self.stages.states[index];
        with_shell(&st.image.config.shell, &st.image.os, &line.args)
    }

    fn dispatch_env(&mut self, index: usize, kvs: &[KeyValue]) -> Result<(), String> {
        let mut message = String::from("ENV");
        let st = &mut self.stages.states[index];
        for kv in kvs {
            message.push_str(&format!(" {}={}", kv.key, kv.value));
            st.state.env.add_or_replace(&kv.key, &kv.value);
            let entry = format!("{}={}", kv.key, kv.value);
            match st
                .image
                .config
                .env
                .iter_mut()
                .find(|e| e.split_once('=').map(|(k, _)| k).unwrap_or(e.as_str()) == kv.key)
            {
                Some(existing) => *existing = entry,
                None => st.image.config.env.push(entry),
            }
        }
        self.commit_history(index, message, false, false);
        Ok(())
    }

    /// WORKDIR, and the working directory a base image sets (`instruction` is `None`
    /// then: no directory is created and nothing is recorded).
    pub(crate) fn dispatch_workdir(
        &mut self,
        index: usize,
        path: &str,
        instruction: Option<&crate::instructions::Instruction>,
    ) -> Result<(), String> {
        if let Some(instr) = instruction {
            if !self.stages.states[index].workdir_set && !path.starts_with('/') {
                self.diagnostics.push(
                    Diagnostic::warning(
                        instr.lines,
                        format!("Relative workdir {} can have unexpected results if the base image changes", go_quote(path)),
                    )
                    .with_rule("WorkdirRelativePath"),
                );
            }
            self.stages.states[index].workdir_set = true;
        }
        let current = self.stages.states[index].image.config.working_dir.clone();
        let workdir = paths::normalize_path(&current, path, false);
        self.stages.states[index].image.config.working_dir = workdir.clone();
        self.stages.states[index].state.dir = workdir.clone();
        let Some(instr) = instruction else {
            return Ok(());
        };
        let mut with_layer = false;
        if workdir != "/" {
            let user = self.stages.states[index].image.config.user.clone();
            let text = self.progress_text(index, &instr.code);
            let name = self.stages.states[index].prefix_command(&text);
            let base = self.stages.states[index].state.root;
            let node = self.graph.builder.add(
                Op::File(FileOp {
                    base: base.map(|_| 0),
                    actions: vec![FileAction::Mkdir(MkdirAction {
                        path: paths::llb_normalize("/", &workdir, false),
                        mode: 0o755,
                        make_parents: true,
                        owner: (!user.is_empty()).then(|| chown_from(&user)),
                    })],
                }),
                base.into_iter().collect(),
                None,
                NodeMetadata {
                    name,
                    command: instr.code.clone(),
                    ignore_cache: self.stages.states[index].ignore_cache,
                    location: Some(source_range(instr.lines)),
                    internal: false,
                },
            );
            self.stages.states[index].state.root = Some(node.output0());
            with_layer = true;
        }
        self.commit_history(index, format!("WORKDIR {workdir}"), with_layer, false);
        Ok(())
    }

    /// A step's progress text: the instruction as written, variables expanded, the
    /// keyword in capitals.
    pub(crate) fn progress_text(&self, index: usize, code: &str) -> String {
        let text = self
            .scope
            .lex
            .process_word(code, &self.stages.states[index].state.env)
            .map(|p| p.result)
            .unwrap_or_else(|_| code.to_owned());
        uppercase_keyword(&text)
    }

    fn dispatch_arg(&mut self, index: usize, defs: Vec<ArgDef>) -> Result<(), String> {
        let mut committed = Vec::with_capacity(defs.len());
        for mut def in defs {
            let given = self.options.build_args.get(&def.key).cloned();
            let own_default = def.value.clone();
            if own_default.is_none()
                && given.is_none()
                && let Some(global) = self.scope.global_args.get(&def.key)
            {
                // Redeclaring a global ARG without a default takes its (already
                // expanded) global value.
                def.value = Some(global.to_owned());
            }
            if let Some(given) = given {
                def.value = Some(given);
            } else if let Some(default) = own_default {
                def.value = Some(self.expand(index, &default)?);
            }
            if let Some(value) = &def.value
                && !matches!(
                    def.key.as_str(),
                    "BUILDKIT_SBOM_SCAN_CONTEXT" | "BUILDKIT_SBOM_SCAN_STAGE"
                )
            {
                self.stages.states[index]
                    .state
                    .env
                    .add_or_replace(&def.key, value);
            }
            committed.push(match &def.value {
                Some(v) => format!("{}={v}", def.key),
                None => def.key.clone(),
            });
            self.stages.states[index].build_args.push(def);
        }
        self.commit_history(index, format!("ARG {}", committed.join(" ")), false, false);
        Ok(())
    }
}

/// Capitalises the first word, as BuildKit's progress names do.
pub(crate) fn uppercase_keyword(text: &str) -> String {
    match text.split_once(' ') {
        Some((first, rest)) => format!("{} {rest}", first.to_uppercase()),
        None => text.to_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chown_parsing_matches_llb() {
        assert_eq!(
            chown_from("1000"),
            Chown {
                user: Some(UserRef::Id(1000)),
                group: None
            }
        );
        assert_eq!(
            chown_from("app:staff"),
            Chown {
                user: Some(UserRef::Name("app".into())),
                group: Some(UserRef::Name("staff".into()))
            }
        );
        assert_eq!(
            chown_from("root:0"),
            Chown {
                user: Some(UserRef::Id(0)),
                group: Some(UserRef::Id(0))
            }
        );
        assert_eq!(
            chown_from("-1"),
            Chown {
                user: Some(UserRef::Name("-1".into())),
                group: None
            }
        );
    }

    #[test]
    fn shells() {
        let args = vec!["echo".to_owned(), "hi".to_owned()];
        assert_eq!(
            with_shell(&[], "linux", &args),
            vec!["/bin/sh", "-c", "echo hi"]
        );
        assert_eq!(
            with_shell(&[], "windows", &args),
            vec!["cmd", "/S", "/C", "echo hi"]
        );
        let bash = vec![
            "/bin/bash".to_owned(),
            "-eo".to_owned(),
            "pipefail".to_owned(),
            "-c".to_owned(),
        ];
        assert_eq!(
            with_shell(&bash, "linux", &args),
            vec!["/bin/bash", "-eo", "pipefail", "-c", "echo hi"]
        );
    }

    #[test]
    fn go_formatting() {
        assert_eq!(
            go_quote_list(&["a b".into(), "c\"d".into()]),
            r#"["a b" "c\"d"]"#
        );
        assert_eq!(go_duration(30_000_000_000), "30s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(uppercase_keyword("copy a b"), "COPY a b");
    }
}
