//! Registering stages before any dispatch: named and implicit stages (an image named by
//! `COPY --from` or `RUN --mount from=`), and the stages each command reads from, so that
//! cycles and reachability are known before anything is resolved.

use hearth_core::Platform;

use super::stage::DispatchState;
use super::{Lowering, NoCache, StepError};
use crate::diagnostic::LineRange;
use crate::instructions::{Command, Instruction};
use crate::shell::NoEnv;

impl Lowering<'_> {
    pub(super) fn register_stage(
        &mut self,
        index: usize,
        stage: &crate::instructions::Stage,
    ) -> Result<(), StepError> {
        let at = |message: String| StepError {
            lines: stage.lines,
            message,
        };
        let base = self
            .scope
            .lex
            .process_word(&stage.base, &self.scope.global_args)
            .map_err(|e| at(e.to_string()))?;
        if base.result.is_empty() {
            return Err(at(format!(
                "base name ({}) should not be blank",
                stage.base
            )));
        }
        let mut platform = None;
        if !stage.platform.is_empty() {
            let expanded = self
                .scope
                .lex
                .process_word(&stage.platform, &self.scope.global_args)
                .map_err(|e| {
                    at(format!(
                        "failed to process arguments for platform {}: {e}",
                        stage.platform
                    ))
                })?;
            if expanded.result.is_empty() {
                return Err(at(format!(
                    "empty platform value from expression {}",
                    stage.platform
                )));
            }
            let parsed = Platform::parse(&expanded.result)
                .map_err(|e| at(format!("failed to parse platform {}: {e}", stage.platform)))?;
            platform = Some(parsed);
        }
        let mut stage = stage.clone();
        stage.base = base.result;
        // A `--build-context` named like the stage replaces the whole stage: its own FROM
        // and instructions are never dispatched (BuildKit's named contexts).
        let named = if stage.name.is_empty() || stage.name.eq_ignore_ascii_case("scratch") {
            None
        } else {
            super::named_context_key(&stage.name)
                .and_then(|key| self.options.named_contexts.get(&key).cloned())
        };
        if named.is_some() {
            stage.commands.clear();
        }
        let stage_name = if stage.name.is_empty() {
            format!("stage-{index}")
        } else {
            stage.name.clone()
        };
        let mut state = DispatchState::new(stage, stage_name, false);
        state.prefix_platform = self.options.multi_platform;
        state.platform = platform;
        state.named_context = named;
        state.ignore_cache = match &self.options.no_cache {
            NoCache::None => false,
            NoCache::All => true,
            NoCache::Stages(names) => names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&state.stage.name)),
        };
        let mut total = 0;
        let replaced = state.named_context.is_some();
        let new_index = self.add_state(state);
        if replaced {
            // Not built on an earlier stage either: the context is the whole result.
            self.stages.states[new_index].base = None;
            return Ok(());
        }
        let st = &self.stages.states[new_index];
        if st.stage.base != "scratch" && st.base.is_none() {
            total = 1;
        }
        total += st
            .stage
            .commands
            .iter()
            .filter(|c| {
                matches!(
                    c.command,
                    Command::Add(_) | Command::Copy(_) | Command::Run(_) | Command::Workdir(_)
                )
            })
            .count();
        self.stages.states[new_index].cmd_total = total;
        Ok(())
    }

    /// Adds a state, linking it to an earlier stage when its base names one.
    pub(super) fn add_state(&mut self, mut state: DispatchState) -> usize {
        if let Some(&base) = self.stages.by_name.get(&state.stage.base) {
            state.base = Some(base);
        }
        let index = self.stages.states.len();
        if !state.stage.name.is_empty() {
            self.stages
                .by_name
                .insert(state.stage.name.to_ascii_lowercase(), index);
        }
        self.stages.states.push(state);
        index
    }

    /// The stages a command reads from: `COPY --from` and `RUN --mount from=`.
    /// Names that are not stages become implicit image stages.
    pub(super) fn command_sources(
        &mut self,
        instruction: &Instruction,
    ) -> Result<Vec<Option<usize>>, String> {
        match &instruction.command {
            Command::Copy(copy) if !copy.from.is_empty() => {
                let expanded = self
                    .scope
                    .lex
                    .process_word(&copy.from, &NoEnv)
                    .map_err(|e| e.to_string())?;
                if expanded.result != copy.from {
                    return Err("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround".to_owned());
                }
                let index = match copy.from.parse::<i64>() {
                    Ok(n) => {
                        if n < 0 || n as usize >= self.stages.states.len() {
                            return Err(format!("invalid stage index {n}"));
                        }
                        n as usize
                    }
                    Err(_) => self.find_or_implicit(&copy.from, instruction.lines),
                };
                Ok(vec![Some(index)])
            }
            Command::Run(run) => {
                let mut sources = Vec::with_capacity(run.mounts.len());
                for spec in &run.mounts {
                    let parsed = crate::instructions::parse_mount(spec, None)?;
                    // A mount without `from` still gets a (scratch) source state, as in
                    // BuildKit, where it only matters for stage indices.
                    let from = if parsed.from.is_empty() {
                        "scratch"
                    } else {
                        parsed.from.as_str()
                    };
                    sources.push(Some(self.find_or_implicit(from, instruction.lines)));
                }
                Ok(sources)
            }
            _ => Ok(Vec::new()),
        }
    }

    pub(super) fn find_or_implicit(&mut self, name: &str, lines: LineRange) -> usize {
        if let Some(&i) = self.stages.by_name.get(&name.to_ascii_lowercase()) {
            return i;
        }
        let stage = crate::instructions::Stage {
            name: String::new(),
            base: name.to_owned(),
            platform: String::new(),
            code: String::new(),
            keyword: String::new(),
            lines,
            commands: Vec::new(),
        };
        let mut state = DispatchState::new(stage, String::new(), true);
        state.prefix_platform = self.options.multi_platform;
        self.add_state(state)
    }
}
