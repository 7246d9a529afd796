//! What holds for every stage of one build: the shell lexer (with the file's escape
//! character), the global ARGs declared before the first FROM, the target platform and
//! the proxy variables taken from build args.

use hearth_core::Platform;

use super::BuildOptions;
use super::args;
use super::env::EnvList;
use crate::shell::Lex;

pub(crate) struct Scope {
    pub(crate) lex: Lex,
    pub(crate) global_args: EnvList,
    pub(crate) target_platform: Platform,
    /// No `--platform` was given: the image keeps its base's platform fields.
    pub(crate) implicit_target: bool,
    pub(crate) proxy_env: Vec<String>,
}

impl Scope {
    pub(crate) fn new(escape: char, options: &BuildOptions) -> Self {
        Self {
            lex: Lex::new(escape),
            global_args: EnvList::default(),
            target_platform: options
                .target_platform
                .clone()
                .unwrap_or_else(|| options.build_platform.clone()),
            implicit_target: options.target_platform.is_none(),
            proxy_env: args::proxy_env(&options.build_args),
        }
    }
}
