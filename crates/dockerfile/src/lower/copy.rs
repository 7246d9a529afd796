//! COPY and ADD: sources from the context, another stage, an image, a URL, a git
//! repository or a heredoc, lowered to one file node (or a merge for `--link`).

use hearth_core::Digest;
use hearth_core::mode::SymbolicMode;
use hearth_graph::op::{
    Chmod, CopyAction, FileAction, FileOp, GitSource, HttpSource, MergeOp, MkfileAction, SourceOp,
};
use hearth_graph::{Input, NodeMetadata, Op};

use super::commands::{chown_from, uppercase_keyword};
use super::git::parse_git_ref;
use super::run::Inputs;
use super::{Lowering, paths, source_range};
use crate::instructions::{Add, Copy, Instruction, SourcesAndDest};

/// The parts of COPY and ADD that lowering treats alike.
struct CopyConfig<'a> {
    paths: SourcesAndDest,
    exclude: Vec<String>,
    source: Option<Input>,
    is_add: bool,
    chown: String,
    chmod: String,
    link: bool,
    parents: bool,
    keep_git_dir: Option<bool>,
    checksum: String,
    unpack: Option<bool>,
    instruction: &'a Instruction,
}

fn is_http(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

/// Validates `--chmod`: octal up to 07777, or a symbolic expression.
pub(crate) fn parse_chmod(chmod: &str) -> Result<Chmod, String> {
    let not_octal = || {
        format!(
            "invalid chmod parameter: '{chmod}'. it should be octal string and between 0 and 07777"
        )
    };
    match u32::from_str_radix(chmod, 8) {
        Ok(bits) if chmod.bytes().all(|b| b.is_ascii_digit()) => {
            if bits > 0o7777 {
                return Err(not_octal());
            }
            Ok(Chmod::Octal(bits))
        }
        _ => match SymbolicMode::parse(chmod) {
            Ok(_) => Ok(Chmod::Symbolic(chmod.to_owned())),
            Err(e) if e.is_numeric() => Err(not_octal()),
            Err(e) => Err(e.to_string()),
        },
    }
}

impl Lowering<'_> {
    pub(crate) fn dispatch_copy_command(
        &mut self,
        index: usize,
        copy: Copy,
        sources: &[Option<usize>],
        instruction: &Instruction,
    ) -> Result<(), String> {
        let mut source = Some(self.graph.context.output0());
        if !copy.from.is_empty() {
            let Some(src) = sources.first().copied().flatten() else {
                return Err(format!("no stage found for --from={}", copy.from));
            };
            if !self.stages.states[src].dispatched {
                return Err(format!(
                    "cannot copy from stage {}, it needs to be defined before current stage {}",
                    crate::shell::go_quote(&copy.from),
                    crate::shell::go_quote(&self.stages.states[index].stage_name)
                ));
            }
            source = self.stages.states[src].state.root;
        }
        let from_context = copy.from.is_empty();
        let context_paths: Vec<String> = copy.paths.sources.clone();
        self.dispatch_copy(
            index,
            CopyConfig {
                paths: copy.paths,
                exclude: copy.exclude,
                source,
                is_add: false,
                chown: copy.chown,
                chmod: copy.chmod,
                link: copy.link,
                parents: copy.parents,
                keep_git_dir: None,
                checksum: String::new(),
                unpack: None,
                instruction,
            },
        )?;
        if from_context {
            for src in context_paths {
                self.graph.ctx_paths.insert(paths::join(&["/", &src]));
            }
        }
        Ok(())
    }

    pub(crate) fn dispatch_add_command(
        &mut self,
        index: usize,
        add: Add,
        instruction: &Instruction,
    ) -> Result<(), String> {
        let context_paths: Vec<String> = add
            .paths
            .sources
            .iter()
            .filter(|s| !is_http(s))
            .cloned()
            .collect();
        self.dispatch_copy(
            index,
            CopyConfig {
                paths: add.paths,
                exclude: add.exclude,
                source: Some(self.graph.context.output0()),
                is_add: true,
                chown: add.chown,
                chmod: add.chmod,
                link: add.link,
                parents: false,
                keep_git_dir: add.keep_git_dir,
                checksum: add.checksum,
                unpack: add.unpack,
                instruction,
            },
        )?;
        for src in context_paths {
            self.graph.ctx_paths.insert(paths::join(&["/", &src]));
        }
        Ok(())
    }

    fn dispatch_copy(&mut self, index: usize, cfg: CopyConfig<'_>) -> Result<(), String> {
        let dest = paths::llb_normalize(
            "/",
            &paths::dest_relative_to_workdir(
                self.stages.states[index].state.cwd(),
                &cfg.paths.dest,
            ),
            true,
        );
        let owner = (!cfg.chown.is_empty()).then(|| chown_from(&cfg.chown));
        let mode = if cfg.chmod.is_empty() {
            None
        } else {
            Some(parse_chmod(&cfg.chmod)?)
        };
        if !cfg.checksum.is_empty() {
            if !cfg.is_add {
                return Err("checksum can't be specified for COPY".to_owned());
            }
            if cfg.paths.sources.len() != 1 {
                return Err("checksum can't be specified for multiple sources".to_owned());
            }
            let src = &cfg.paths.sources[0];
            if !is_http(src) && parse_git_ref(src)?.is_none() {
                return Err("checksum requires HTTP(S) or Git sources".to_owned());
            }
        }
        let mut message = String::from(if cfg.is_add { "ADD" } else { "COPY" });
        if cfg.parents {
            message.push_str(" --parents");
        }
        if !cfg.chown.is_empty() {
            message.push_str(&format!(" --chown={}", cfg.chown));
        }
        if !cfg.chmod.is_empty() {
            message.push_str(&format!(" --chmod={}", cfg.chmod));
        }
        let text = {
            let code = &cfg.instruction.code;
            let expanded = self
                .scope
                .lex
                .process_word(code, &self.stages.states[index].state.env)
                .map(|p| p.result)
                .unwrap_or_else(|_| code.clone());
            uppercase_keyword(&expanded)
        };
        let name = self.stages.states[index].prefix_command(&text);
        let location = Some(source_range(cfg.instruction.lines));
        let ignore_cache = self.stages.states[index].ignore_cache;
        let internal_meta = |name: &str| NodeMetadata {
            name: name.to_owned(),
            internal: true,
            ..NodeMetadata::default()
        };

        let mut inputs = Inputs::default();
        let use_merge = cfg.link && cfg.chmod.is_empty();
        let base = if use_merge {
            None
        } else {
            self.stages.states[index].state.root
        };
        let base_index = inputs.index(base);
        let mut actions = Vec::new();
        let plain_copy = |source: Option<u32>, src: String| CopyAction {
            source,
            src,
            dest: dest.clone(),
            owner: owner.clone(),
            mode: mode.clone(),
            follow_symlinks: false,
            dir_contents_only: false,
            include_patterns: Vec::new(),
            exclude_patterns: cfg.exclude.clone(),
            attempt_unpack: false,
            create_dest_path: true,
            allow_wildcard: false,
            allow_empty_wildcard: false,
        };

        for src in &cfg.paths.sources {
            message.push(' ');
            message.push_str(src);
            if let Some(git) = parse_git_ref(src)? {
                if !cfg.is_add {
                    return Err("source can't be a git ref for COPY".to_owned());
                }
                if let (Some(flag), Some(query)) = (cfg.keep_git_dir, git.keep_git_dir)
                    && flag != query
                {
                    return Err("inconsistent keep-git-dir configuration".to_owned());
                }
                let mut checksum = git.checksum.clone();
                if !cfg.checksum.is_empty() {
                    if !checksum.is_empty() && checksum != cfg.checksum {
                        return Err(format!(
                            "checksum mismatch {:?} != {:?}",
                            cfg.checksum, checksum
                        ));
                    }
                    checksum = cfg.checksum.clone();
                }
                let node = self.graph.builder.add(
                    Op::Source(SourceOp::Git(GitSource {
                        remote: git.remote.clone(),
                        reference: git.reference.clone(),
                        keep_git_dir: git.keep_git_dir.or(cfg.keep_git_dir).unwrap_or(false),
                        subdir: git.subdir.clone(),
                        checksum,
                    })),
                    Vec::new(),
                    None,
                    NodeMetadata {
                        name: name.clone(),
                        ..NodeMetadata::default()
                    },
                );
                let source = inputs.index(Some(node.output0()));
                actions.push(FileAction::Copy(plain_copy(source, "/".to_owned())));
            } else if is_http(src) {
                if !cfg.is_add {
                    return Err("source can't be a URL for COPY".to_owned());
                }
                let filename = src
                    .split_once("://")
                    .map(|(_, rest)| rest)
                    .and_then(|rest| rest.split_once('/').map(|(_, p)| p))
                    .map(|p| p.split(['?', '#']).next().unwrap_or_default())
                    .map(|p| paths::base(&format!("/{p}")))
                    .filter(|b| b != "." && b != "/")
                    .unwrap_or_else(|| "__unnamed__".to_owned());
                let checksum = if cfg.checksum.is_empty() {
                    None
                } else {
                    Some(cfg.checksum.parse::<Digest>().map_err(|e| e.to_string())?)
                };
                let node = self.graph.builder.add(
                    Op::Source(SourceOp::Http(HttpSource {
                        url: src.clone(),
                        checksum,
                        filename: filename.clone(),
                    })),
                    Vec::new(),
                    None,
                    NodeMetadata {
                        name: name.clone(),
                        command: cfg.instruction.code.clone(),
                        ..NodeMetadata::default()
                    },
                );
                let source = inputs.index(Some(node.output0()));
                let mut action = plain_copy(source, format!("/{filename}"));
                action.attempt_unpack = cfg.unpack.unwrap_or(false);
                actions.push(FileAction::Copy(action));
            } else {
                let mut src_path = src.clone();
                let mut include = Vec::new();
                if cfg.parents {
                    let (parent, pattern) = match src.split_once("/./") {
                        Some((parent, pattern)) => (parent.to_owned(), pattern.to_owned()),
                        None => ("/".to_owned(), src.clone()),
                    };
                    let pattern = paths::normalize_path("/", &pattern, false);
                    include.push(pattern.trim_start_matches('/').to_owned());
                    src_path = parent;
                }
                let source = inputs.index(cfg.source);
                let mut action = plain_copy(source, paths::llb_normalize("/", &src_path, false));
                action.follow_symlinks = true;
                action.dir_contents_only = true;
                action.include_patterns = include;
                action.attempt_unpack = cfg.unpack.unwrap_or(cfg.is_add);
                action.allow_wildcard = true;
                action.allow_empty_wildcard = true;
                actions.push(FileAction::Copy(action));
            }
        }
        for inline in &cfg.paths.inline {
            message.push_str(&format!(" <<{}", inline.path));
            let file = paths::join(&["/", &inline.path]);
            let node = self.graph.builder.add(
                Op::File(FileOp {
                    base: None,
                    actions: vec![FileAction::Mkfile(MkfileAction {
                        path: file.clone(),
                        mode: 0o644,
                        data: inline.data.clone(),
                        owner: None,
                    })],
                }),
                Vec::new(),
                None,
                internal_meta("[internal] preparing inline document"),
            );
            let source = inputs.index(Some(node.output0()));
            actions.push(FileAction::Copy(plain_copy(source, file)));
        }
        message.push(' ');
        message.push_str(&cfg.paths.dest);

        let meta = NodeMetadata {
            name: name.clone(),
            command: cfg.instruction.code.clone(),
            ignore_cache,
            location,
            internal: false,
        };
        let file_node = self.graph.builder.add(
            Op::File(FileOp {
                base: base_index,
                actions,
            }),
            inputs.list,
            None,
            meta.clone(),
        );
        let result = if use_merge {
            match self.stages.states[index].state.root {
                // Merging onto nothing is just the new layer.
                None => file_node.output0(),
                Some(root) => {
                    let merge = self.graph.builder.add(
                        Op::Merge(MergeOp {}),
                        vec![root, file_node.output0()],
                        None,
                        NodeMetadata {
                            name: format!("LINK {name}"),
                            ..meta
                        },
                    );
                    merge.output0()
                }
            }
        } else {
            file_node.output0()
        };
        self.stages.states[index].state.root = Some(result);
        self.commit_history(index, message, true, true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chmod_values() {
        assert_eq!(parse_chmod("755"), Ok(Chmod::Octal(0o755)));
        assert_eq!(parse_chmod("4755"), Ok(Chmod::Octal(0o4755)));
        assert_eq!(
            parse_chmod("u+x,g-w"),
            Ok(Chmod::Symbolic("u+x,g-w".into()))
        );
        let not_octal = |v: &str| {
            format!(
                "invalid chmod parameter: '{v}'. it should be octal string and between 0 and 07777"
            )
        };
        assert_eq!(parse_chmod("10000"), Err(not_octal("10000")));
        assert_eq!(parse_chmod("999"), Err(not_octal("999")));
        assert_eq!(parse_chmod("u+q"), Err("invalid syntax".to_owned()));
    }
}
