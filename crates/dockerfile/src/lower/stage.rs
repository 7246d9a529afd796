//! Per-stage conversion state: what a stage's next step starts from.

use std::collections::BTreeSet;

use hearth_core::Platform;
use hearth_core::image::ImageConfig;
use hearth_graph::Input;
use hearth_graph::op::NetworkMode;

use super::env::EnvList;
use crate::instructions::{ArgDef, Instruction, Stage};
use crate::shell::EnvGetter;

/// The filesystem and process settings the next step of a stage starts from
/// (BuildKit's `llb.State`).
#[derive(Debug, Clone)]
pub(crate) struct State {
    /// The current root filesystem; `None` is an empty filesystem.
    pub(crate) root: Option<Input>,
    /// Variables RUN sees and expansion uses: ENV values and ARG values.
    pub(crate) env: EnvList,
    /// Working directory; empty means `/`.
    pub(crate) dir: String,
    /// User for RUN.
    pub(crate) user: String,
    /// Default network mode of RUN.
    pub(crate) network: NetworkMode,
    /// Platform of the filesystem.
    pub(crate) platform: Option<Platform>,
}

impl State {
    pub(crate) fn scratch() -> Self {
        Self {
            root: None,
            env: EnvList::default(),
            dir: String::new(),
            user: String::new(),
            network: NetworkMode::Default,
            platform: None,
        }
    }

    pub(crate) fn on(root: Input) -> Self {
        Self {
            root: Some(root),
            ..Self::scratch()
        }
    }

    /// The working directory, `/` when unset.
    pub(crate) fn cwd(&self) -> &str {
        if self.dir.is_empty() { "/" } else { &self.dir }
    }
}

/// An instruction queued for a stage, with the stages it reads.
#[derive(Debug, Clone)]
pub(crate) struct PendingCommand {
    pub(crate) instruction: Instruction,
    /// For COPY --from: one entry; for RUN: one per mount.
    pub(crate) sources: Vec<Option<usize>>,
    /// Came from an ONBUILD trigger of the base.
    pub(crate) is_onbuild: bool,
}

/// Everything known about one stage while converting.
#[derive(Debug, Clone)]
pub(crate) struct DispatchState {
    pub(crate) stage: Stage,
    /// Name for progress (`stage-N` for unnamed stages, empty for single-stage files).
    pub(crate) stage_name: String,
    /// The earlier stage this one is built on.
    pub(crate) base: Option<usize>,
    /// Stages read by COPY --from or RUN --mount.
    pub(crate) deps: BTreeSet<usize>,
    pub(crate) state: State,
    pub(crate) image: ImageConfig,
    pub(crate) platform: Option<Platform>,
    pub(crate) commands: Vec<PendingCommand>,
    /// ARGs declared so far (with their values), for RUN history lines.
    pub(crate) build_args: Vec<ArgDef>,
    pub(crate) dispatched: bool,
    pub(crate) resolved: bool,
    pub(crate) onbuild_init: bool,
    /// An implicit stage for an image named by `COPY --from` or `--mount from=`.
    pub(crate) unregistered: bool,
    pub(crate) ignore_cache: bool,
    pub(crate) workdir_set: bool,
    /// CMD was set in this stage (ENTRYPOINT then keeps it).
    pub(crate) cmd_set: bool,
    pub(crate) cmd_index: usize,
    pub(crate) cmd_total: usize,
    pub(crate) cmd_is_onbuild: bool,
    /// Several platforms were requested: step names carry the platform (BuildKit's
    /// `MultiPlatformRequested`), since the same step runs once per platform.
    pub(crate) prefix_platform: bool,
    /// Progress names of dispatched steps, for reports.
    pub(crate) steps: Vec<String>,
    /// A `--build-context` that replaces this whole stage.
    pub(crate) named_context: Option<super::NamedContext>,
}

impl DispatchState {
    pub(crate) fn new(stage: Stage, stage_name: String, unregistered: bool) -> Self {
        Self {
            stage,
            stage_name,
            base: None,
            deps: BTreeSet::new(),
            state: State::scratch(),
            image: ImageConfig::default(),
            platform: None,
            commands: Vec::new(),
            build_args: Vec::new(),
            dispatched: false,
            resolved: false,
            onbuild_init: false,
            unregistered,
            ignore_cache: false,
            workdir_set: false,
            cmd_set: false,
            cmd_index: 0,
            cmd_total: 0,
            cmd_is_onbuild: false,
            prefix_platform: false,
            steps: Vec::new(),
            named_context: None,
        }
    }

    /// `[stage 2/5] RUN …`: BuildKit's progress prefix. Numbers are padded to the
    /// width of the total so columns line up.
    pub(crate) fn prefix_command(&mut self, text: &str) -> String {
        let label = match (&self.platform, self.prefix_platform) {
            (Some(platform), true) => Some(platform_label(platform, Some(&self.state.env))),
            _ => None,
        };
        self.prefix_command_with(text, label)
    }

    /// [`prefix_command`](Self::prefix_command) for `FROM`, whose platform is not yet the
    /// stage's and whose name ignores the stage's `TARGET*` arguments.
    pub(crate) fn prefix_from(&mut self, text: &str, platform: &Platform) -> String {
        let label = self.prefix_platform.then(|| platform_label(platform, None));
        self.prefix_command_with(text, label)
    }

    fn prefix_command_with(&mut self, text: &str, platform: Option<String>) -> String {
        if self.cmd_total == 0 {
            self.steps.push(text.to_owned());
            return text.to_owned();
        }
        let mut out = String::from("[");
        if let Some(platform) = platform {
            out.push_str(&platform);
            out.push(' ');
        }
        if !self.stage_name.is_empty() {
            out.push_str(&self.stage_name);
            out.push(' ');
        }
        self.cmd_index += 1;
        let width = self.cmd_total.to_string().len();
        out.push_str(&format!("{:>width$}/{}] ", self.cmd_index, self.cmd_total));
        if self.cmd_is_onbuild {
            out.push_str("ONBUILD ");
        }
        out.push_str(text);
        self.steps.push(out.clone());
        out
    }

    /// The name shown in reports.
    pub(crate) fn display_name(&self, index: usize) -> String {
        if !self.stage.name.is_empty() {
            self.stage.name.clone()
        } else {
            format!("stage-{index}")
        }
    }
}

/// `linux/amd64`, or `linux/amd64->arm64` when the stage's `TARGET*` arguments name
/// another platform (a cross-compiling stage), as BuildKit labels multi-platform steps.
fn platform_label(platform: &Platform, env: Option<&EnvList>) -> String {
    let mut label = platform.format_all();
    if let Some(target) = env.and_then(target_from_env) {
        let mut target = target;
        if target.os.is_empty() {
            target.os = platform.os.clone();
        }
        if target.architecture.is_empty() {
            target.architecture = platform.architecture.clone();
        }
        let target = target.normalized();
        if target.os == platform.os && target.architecture != platform.architecture {
            label.push_str("->");
            label.push_str(&target.architecture);
            if !target.variant.is_empty() {
                label.push('/');
                label.push_str(&target.variant);
            }
        } else if target.os != platform.os {
            label.push_str("->");
            label.push_str(&target.format_all());
        }
    }
    label
}

/// The platform the stage's `TARGETPLATFORM`/`TARGETOS`/`TARGETARCH`/`TARGETVARIANT`
/// variables describe, if any is declared.
fn target_from_env(env: &EnvList) -> Option<Platform> {
    let mut target = Platform::default();
    let mut set = false;
    for key in env.keys() {
        let value = env.get(key).unwrap_or_default();
        match key {
            "TARGETPLATFORM" => {
                if let Ok(parsed) = Platform::parse(value) {
                    return Some(parsed);
                }
            }
            "TARGETOS" => {
                target.os = value.to_owned();
                set = true;
            }
            "TARGETARCH" => {
                target.architecture = value.to_owned();
                set = true;
            }
            "TARGETVARIANT" => {
                target.variant = value.to_owned();
                set = true;
            }
            _ => {}
        }
    }
    set.then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::LineRange;

    fn stage() -> Stage {
        Stage {
            name: "build".into(),
            base: "busybox".into(),
            platform: String::new(),
            code: "FROM busybox AS build".into(),
            keyword: "FROM".into(),
            lines: LineRange::single(1),
            commands: Vec::new(),
        }
    }

    #[test]
    fn progress_prefix_pads_to_the_total() {
        let mut st = DispatchState::new(stage(), "build".into(), false);
        st.cmd_total = 12;
        assert_eq!(st.prefix_command("FROM x"), "[build  1/12] FROM x");
        st.cmd_is_onbuild = true;
        assert_eq!(st.prefix_command("RUN y"), "[build  2/12] ONBUILD RUN y");
        let mut single = DispatchState::new(stage(), String::new(), false);
        single.cmd_total = 3;
        assert_eq!(single.prefix_command("RUN z"), "[1/3] RUN z");
        let mut none = DispatchState::new(stage(), "s".into(), false);
        assert_eq!(none.prefix_command("RUN w"), "RUN w");
    }

    #[test]
    fn several_platforms_put_the_platform_and_a_cross_target_in_the_name() {
        let mut st = DispatchState::new(stage(), "build".into(), false);
        st.cmd_total = 3;
        st.prefix_platform = true;
        st.platform = Some(Platform::new("linux", "amd64", ""));
        assert_eq!(
            st.prefix_from("FROM busybox", &Platform::new("linux", "amd64", "")),
            "[linux/amd64 build 1/3] FROM busybox"
        );
        st.state.env.add_or_replace("TARGETARCH", "arm64");
        assert_eq!(
            st.prefix_command("RUN make"),
            "[linux/amd64->arm64 build 2/3] RUN make"
        );
        st.state.env.add_or_replace("TARGETARCH", "amd64");
        assert_eq!(
            st.prefix_command("RUN make"),
            "[linux/amd64 build 3/3] RUN make"
        );
    }
}
