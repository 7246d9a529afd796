//! RUN: the command line (shell form, heredocs), its mounts, network and security
//! mode, lowered to one exec node.

use hearth_graph::op::{
    CacheSharing, ExecMeta, ExecOp, FileAction, FileOp, MkdirAction, MkfileAction, Mount,
    MountKind, NetworkMode, SecretEnv, SecretMount, SecurityMode, SshMount,
};
use hearth_graph::{Input, NodeMetadata, Op};

use super::commands::{uppercase_keyword, with_shell};
use super::env::{EnvList, Overlay};
use super::{Lowering, paths, source_range};
use crate::instructions::{Instruction, MountSpec, MountType, Run, Sharing, parse_mount};
use crate::shell::EnvGetter;
use crate::syntax::{chomp_heredoc_content, parse_heredoc_word};

/// Distinct inputs of a node, referenced by index from its op.
#[derive(Default)]
pub(crate) struct Inputs {
    pub(crate) list: Vec<Input>,
}

impl Inputs {
    /// The index of `input`, adding it if new; `None` stays `None` (empty filesystem).
    pub(crate) fn index(&mut self, input: Option<Input>) -> Option<u32> {
        let input = input?;
        let position = match self.list.iter().position(|i| *i == input) {
            Some(p) => p,
            None => {
                self.list.push(input);
                self.list.len() - 1
            }
        };
        u32::try_from(position).ok()
    }
}

/// First line of a heredoc, with `...` when there are more.
fn summarize_heredoc(doc: &str) -> String {
    let doc = doc.trim();
    let normalized = doc.replace("\r\n", "\n");
    let mut lines = normalized.split('\n');
    let first = lines.next().unwrap_or_default().to_owned();
    if lines.next().is_some() {
        format!("{first}...")
    } else {
        first
    }
}

/// BuildKit's RUN history line: `|N K=V … argv…` when ARGs are in scope.
fn run_command_string(
    args: &[String],
    build_args: &[crate::instructions::ArgDef],
    env: &EnvList,
) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for arg in build_args {
        let value = env
            .get(&arg.key)
            .map(str::to_owned)
            .unwrap_or_else(|| arg.value.clone().unwrap_or_default());
        match pairs.iter_mut().find(|(k, _)| *k == arg.key) {
            Some(existing) => existing.1 = value,
            None => pairs.push((arg.key.clone(), value)),
        }
    }
    let mut parts: Vec<String> = Vec::new();
    if !pairs.is_empty() {
        parts.push(format!("|{}", pairs.len()));
        parts.extend(pairs.into_iter().map(|(k, v)| format!("{k}={v}")));
    }
    parts.extend(args.iter().cloned());
    parts.join(" ")
}

impl Lowering<'_> {
    pub(crate) fn dispatch_run(
        &mut self,
        index: usize,
        run: Run,
        sources: &[Option<usize>],
        instruction: &Instruction,
    ) -> Result<(), String> {
        let mut mounts = Vec::with_capacity(run.mounts.len());
        {
            let env = self.stages.states[index].state.env.clone();
            let lex = self.scope.lex;
            let mut expander = |w: &str| {
                lex.process_word(w, &env)
                    .map(|p| p.result)
                    .map_err(|e| e.to_string())
            };
            for spec in &run.mounts {
                mounts.push(parse_mount(spec, Some(&mut expander))?);
            }
        }
        let mut inputs = Inputs::default();
        let mut graph_mounts: Vec<Mount> = Vec::new();
        let mut custom_name = instruction.code.clone();
        let mut args = run.command.args.clone();
        let heredocs = &run.command.heredocs;
        if !heredocs.is_empty() {
            if args.len() != 1 || !run.command.prepend_shell {
                return Err(format!("parsing produced an invalid run command: {args:?}"));
            }
            let first = &heredocs[0];
            let data = if first.chomp {
                chomp_heredoc_content(&first.content)
            } else {
                first.content.clone()
            };
            if parse_heredoc_word(&args[0]).ok().flatten().is_some() {
                if self.stages.states[index].image.os != "windows"
                    && first.content.starts_with("#!")
                {
                    // A script with a shebang runs as a file, so its own interpreter
                    // is used; BuildKit mounts it read-only under /dev/pipes.
                    let script = self.graph.builder.add(
                        Op::File(FileOp {
                            base: None,
                            actions: vec![FileAction::Mkfile(MkfileAction {
                                path: paths::join(&["/", &first.name]),
                                mode: 0o755,
                                data,
                                owner: None,
                            })],
                        }),
                        Vec::new(),
                        None,
                        NodeMetadata {
                            name: "[internal] preparing inline document".to_owned(),
                            internal: true,
                            ..NodeMetadata::default()
                        },
                    );
                    graph_mounts.push(Mount {
                        input: inputs.index(Some(script.output0())),
                        target: "/dev/pipes/".to_owned(),
                        selector: "/".to_owned(),
                        readonly: true,
                        output: None,
                        kind: MountKind::Bind,
                    });
                    args = vec![paths::join(&["/dev/pipes/", &first.name])];
                } else {
                    args = vec![data];
                }
                custom_name.push_str(&format!(" ({})", summarize_heredoc(&first.content)));
            } else {
                let mut full = args[0].clone();
                for doc in heredocs {
                    full.push('\n');
                    full.push_str(&doc.content);
                    full.push_str(&doc.name);
                }
                args = vec![full];
            }
        }
        if run.command.prepend_shell {
            let st = &self.stages.states[index];
            args = with_shell(&st.image.config.shell, &st.image.os, &args);
        }

        let mut secret_env: Vec<SecretEnv> = Vec::new();
        let mut ssh_targets: Vec<String> = Vec::new();
        let mut masked = EnvList::default();
        for (i, mount) in mounts.iter().enumerate() {
            match mount.kind {
                MountType::Secret => {
                    self.secret_mount(mount, &mut graph_mounts, &mut secret_env)?;
                    if let Some(env) = &mount.env {
                        masked.add_or_replace(env, "****");
                    }
                }
                MountType::Ssh => {
                    let target = self.ssh_mount(mount, ssh_targets.len(), &mut graph_mounts)?;
                    ssh_targets.push(target);
                }
                _ => {
                    let source = sources.get(i).copied().flatten();
                    let m = self.filesystem_mount(index, mount, source, &mut inputs)?;
                    graph_mounts.push(m);
                }
            }
        }
        let root = self.stages.states[index].state.root;
        graph_mounts.push(Mount {
            input: inputs.index(root),
            target: "/".to_owned(),
            selector: "/".to_owned(),
            readonly: false,
            output: Some(0),
            kind: MountKind::Bind,
        });
        graph_mounts.sort_by(|a, b| a.target.cmp(&b.target));

        let st = &self.stages.states[index];
        let mut env = st.state.env.clone();
        if let Some(first) = ssh_targets.first() {
            env.set_default("SSH_AUTH_SOCK", first);
        }
        let network = match run.network.as_str() {
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            _ => st.state.network,
        };
        let security = if run.security == "insecure" {
            SecurityMode::Insecure
        } else {
            SecurityMode::Sandbox
        };
        let exec = ExecOp {
            meta: ExecMeta {
                args: args.clone(),
                env: env.to_vec(),
                cwd: st.state.cwd().to_owned(),
                user: st.state.user.clone(),
                proxy_env: self.scope.proxy_env.clone(),
            },
            mounts: graph_mounts,
            network,
            security,
            secret_env,
        };
        let display_env = Overlay {
            top: &masked,
            base: &st.state.env,
        };
        let mut lex = self.scope.lex;
        lex.raw_quotes = true;
        lex.skip_unset_env = true;
        let text = lex
            .process_word(&custom_name, &display_env)
            .map(|p| p.result)
            .unwrap_or_else(|_| custom_name.clone());
        let history = format!(
            "RUN {}",
            run_command_string(&args, &st.build_args, &st.state.env)
        );
        let platform = st.platform.clone();
        let ignore_cache = st.ignore_cache;
        let name = self.stages.states[index].prefix_command(&uppercase_keyword(&text));
        let node = self.graph.builder.add(
            Op::Exec(exec),
            inputs.list,
            platform,
            NodeMetadata {
                name,
                command: instruction.code.clone(),
                ignore_cache,
                location: Some(source_range(instruction.lines)),
                internal: false,
            },
        );
        self.stages.states[index].state.root = Some(node.output0());
        self.commit_history(index, history, true, true);
        Ok(())
    }

    fn filesystem_mount(
        &mut self,
        index: usize,
        mount: &MountSpec,
        source: Option<usize>,
        inputs: &mut Inputs,
    ) -> Result<Mount, String> {
        let mut from = mount.from.clone();
        if from.is_empty() && mount.kind == MountType::Cache {
            from = "scratch".to_owned();
        }
        let mut input: Option<Input> = Some(self.graph.context.output0());
        if !from.is_empty() {
            let Some(src) = source else {
                return Err(format!("no source stage for mount from {from:?}"));
            };
            if !self.stages.states[src].dispatched {
                return Err(format!(
                    "cannot mount from stage {} to {}, stage needs to be defined before current command",
                    crate::shell::go_quote(&mount.from),
                    crate::shell::go_quote(&mount.target)
                ));
            }
            input = self.stages.states[src].state.root;
        }
        let kind = match mount.kind {
            MountType::Tmpfs => {
                input = None;
                MountKind::Tmpfs {
                    size: mount.size_limit,
                }
            }
            MountType::Cache => {
                let id = if mount.id.is_empty() {
                    paths::clean(&mount.target)
                } else {
                    mount.id.clone()
                };
                MountKind::Cache {
                    id: format!("{}/{id}", self.options.cache_id_namespace),
                    sharing: match mount.sharing {
                        Some(Sharing::Private) => CacheSharing::Private,
                        Some(Sharing::Locked) => CacheSharing::Locked,
                        _ => CacheSharing::Shared,
                    },
                }
            }
            _ => MountKind::Bind,
        };
        let mut target = mount.target.clone();
        if !paths::clean(&target).starts_with('/') {
            target = paths::join(&["/", self.stages.states[index].state.cwd(), &mount.target]);
        }
        if target == "/" {
            return Err(format!(
                "invalid mount target {}",
                crate::shell::go_quote(&target)
            ));
        }
        let mut selector = paths::join(&["/", &mount.source]);
        if selector == "/" && (mount.uid.is_some() || mount.gid.is_some() || mount.mode.is_some()) {
            // A cache (or stage) directory with an owner or mode: BuildKit creates it
            // as /cache in a helper layer and mounts that.
            let node = self.graph.builder.add(
                Op::File(FileOp {
                    base: input.map(|_| 0),
                    actions: vec![FileAction::Mkdir(MkdirAction {
                        path: "/cache".to_owned(),
                        mode: mount.mode.unwrap_or(0o755),
                        make_parents: false,
                        owner: Some(hearth_graph::op::Chown {
                            user: Some(hearth_graph::op::UserRef::Id(mount.uid.unwrap_or(0))),
                            group: Some(hearth_graph::op::UserRef::Id(mount.gid.unwrap_or(0))),
                        }),
                    })],
                }),
                input.into_iter().collect(),
                None,
                NodeMetadata {
                    name: "[internal] setting cache mount permissions".to_owned(),
                    internal: true,
                    ..NodeMetadata::default()
                },
            );
            input = Some(node.output0());
            selector = "/cache".to_owned();
        }
        if mount.from.is_empty() && mount.kind != MountType::Cache {
            self.graph
                .ctx_paths
                .insert(paths::join(&["/", &mount.source]));
        }
        Ok(Mount {
            input: inputs.index(input),
            target,
            selector,
            readonly: mount.readonly,
            output: None,
            kind,
        })
    }

    fn secret_mount(
        &mut self,
        mount: &MountSpec,
        graph_mounts: &mut Vec<Mount>,
        secret_env: &mut Vec<SecretEnv>,
    ) -> Result<(), String> {
        let mut id = if mount.source.is_empty() {
            mount.id.clone()
        } else {
            mount.source.clone()
        };
        if id.is_empty() {
            if mount.target.is_empty() {
                return Err("one of source, target required".to_owned());
            }
            id = paths::base(&mount.target);
        }
        let mut target = (!mount.target.is_empty()).then(|| mount.target.clone());
        if mount.env.is_none() && target.is_none() {
            target = Some(format!("/run/secrets/{}", paths::base(&id)));
        }
        self.asks
            .secrets
            .entry(id.clone())
            .or_insert(mount.required);
        if let Some(target) = target {
            graph_mounts.push(Mount {
                input: None,
                target,
                selector: String::new(),
                readonly: true,
                output: None,
                kind: MountKind::Secret(SecretMount {
                    id: id.clone(),
                    optional: !mount.required,
                    uid: mount.uid.unwrap_or(0),
                    gid: mount.gid.unwrap_or(0),
                    mode: mount.mode.unwrap_or(0o400),
                }),
            });
        }
        if let Some(name) = &mount.env {
            secret_env.push(SecretEnv {
                id,
                name: name.clone(),
                optional: !mount.required,
            });
        }
        Ok(())
    }

    fn ssh_mount(
        &mut self,
        mount: &MountSpec,
        position: usize,
        graph_mounts: &mut Vec<Mount>,
    ) -> Result<String, String> {
        if !mount.source.is_empty() {
            return Err("ssh does not support source".to_owned());
        }
        let id = if mount.id.is_empty() {
            "default".to_owned()
        } else {
            mount.id.clone()
        };
        self.asks.ssh.entry(id.clone()).or_insert(mount.required);
        let target = if mount.target.is_empty() {
            format!("/run/buildkit/ssh_agent.{position}")
        } else {
            mount.target.clone()
        };
        graph_mounts.push(Mount {
            input: None,
            target: target.clone(),
            selector: String::new(),
            readonly: true,
            output: None,
            kind: MountKind::Ssh(SshMount {
                id,
                optional: !mount.required,
                uid: mount.uid.unwrap_or(0),
                gid: mount.gid.unwrap_or(0),
                mode: mount.mode.unwrap_or(0o600),
            }),
        });
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::ArgDef;

    #[test]
    fn history_lists_args_in_scope() {
        let mut env = EnvList::default();
        env.add_or_replace("A", "from-env");
        let args = vec![
            ArgDef {
                key: "A".into(),
                value: Some("1".into()),
            },
            ArgDef {
                key: "B".into(),
                value: Some("2".into()),
            },
            ArgDef {
                key: "A".into(),
                value: Some("3".into()),
            },
        ];
        let cmd = vec!["/bin/sh".to_owned(), "-c".to_owned(), "make".to_owned()];
        assert_eq!(
            run_command_string(&cmd, &args, &env),
            "|2 A=from-env B=2 /bin/sh -c make"
        );
        assert_eq!(run_command_string(&cmd, &[], &env), "/bin/sh -c make");
    }

    #[test]
    fn heredoc_summary() {
        assert_eq!(summarize_heredoc("\necho one\necho two\n"), "echo one...");
        assert_eq!(summarize_heredoc("single\n"), "single");
    }
}
