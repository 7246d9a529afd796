//! Cache keys of nodes: what a node does plus what it reads, hashed with a versioned tag.
//!
//! Keys leave out what does not change a result: progress names, proxy variables
//! (they reach the process but builds must not miss the cache because a proxy
//! changed) and secret *values* (only a secret's id and where it is mounted count, so
//! a secret never enters a key). Inputs read as files (the build context) contribute a
//! digest of exactly the files read, computed in [`crate::context`].

use hearth_core::Digest;
use hearth_graph::Op;
use hearth_graph::op::{ExecOp, FileAction, MountKind};
use hearth_solver::{InputKeyMode, KeyInput, NodeCtx};
use serde::Serialize;

/// Version tags: bump one when the meaning of its op's key changes.
const EXEC_KEY: &str = "hearth.exec.v1";
const FILE_KEY: &str = "hearth.file.v1";
const MERGE_KEY: &str = "hearth.merge.v1";
const SOURCE_KEY: &str = "hearth.source.v1";

/// Whether input `index` of `node` is read as files (a COPY source or a bind mount: then
/// its contribution is a digest of the files read, see `content`) or is the base a step
/// builds on (then it contributes its cache key).
pub(crate) fn input_mode(node: &NodeCtx<'_>, index: usize) -> InputKeyMode {
    let reads_files = match &node.node.op {
        Op::File(file) => file
            .actions
            .iter()
            .any(|a| matches!(a, FileAction::Copy(c) if c.source == u32::try_from(index).ok())),
        Op::Exec(exec) => exec.mounts.iter().any(|m| {
            m.input == u32::try_from(index).ok()
                && m.target != "/"
                && matches!(m.kind, MountKind::Bind)
        }),
        _ => false,
    };
    if reads_files {
        InputKeyMode::Content
    } else {
        InputKeyMode::Key
    }
}

#[derive(Serialize)]
struct ExecKey<'a> {
    tag: &'static str,
    args: &'a [String],
    env: &'a [String],
    cwd: &'a str,
    user: &'a str,
    network: &'a hearth_graph::op::NetworkMode,
    security: &'a hearth_graph::op::SecurityMode,
    mounts: Vec<MountKey<'a>>,
    secret_env: Vec<(&'a str, &'a str)>,
    platform: Option<String>,
    inputs: Vec<String>,
}

#[derive(Serialize)]
struct MountKey<'a> {
    input: Option<u32>,
    target: &'a str,
    selector: &'a str,
    readonly: bool,
    output: Option<u32>,
    kind: String,
}

fn mount_kind(kind: &MountKind) -> String {
    match kind {
        MountKind::Bind => "bind".to_owned(),
        MountKind::Cache { id, sharing } => format!("cache:{id}:{sharing:?}"),
        MountKind::Tmpfs { size } => format!("tmpfs:{size}"),
        // The id and file attributes, never the value: a secret does not belong in a key.
        MountKind::Secret(s) => format!(
            "secret:{}:{}:{}:{:o}:{}",
            s.id, s.uid, s.gid, s.mode, s.optional
        ),
        MountKind::Ssh(s) => format!(
            "ssh:{}:{}:{}:{:o}:{}",
            s.id, s.uid, s.gid, s.mode, s.optional
        ),
    }
}

/// Inputs in a stable text form: a key (with the output read) or a content digest.
fn input_parts(inputs: &[KeyInput]) -> Vec<String> {
    inputs
        .iter()
        .map(|i| match i {
            KeyInput::Key { key, output } => format!("key:{key}:{output}"),
            KeyInput::Content(d) => format!("content:{d}"),
        })
        .collect()
}

fn serialize_key(value: &impl Serialize) -> Result<Digest, serde_json::Error> {
    serde_json::to_vec(value).map(|bytes| Digest::of(&bytes))
}

/// The cache key of a node given its inputs' contributions.
pub(crate) fn cache_key(
    node: &NodeCtx<'_>,
    inputs: &[KeyInput],
) -> Result<Digest, serde_json::Error> {
    let platform = node.node.platform.as_ref().map(|p| p.format_all());
    match &node.node.op {
        Op::Exec(ExecOp {
            meta,
            mounts,
            network,
            security,
            secret_env,
        }) => serialize_key(&ExecKey {
            tag: EXEC_KEY,
            args: &meta.args,
            env: &meta.env,
            cwd: &meta.cwd,
            user: &meta.user,
            network,
            security,
            mounts: mounts
                .iter()
                .map(|m| MountKey {
                    input: m.input,
                    target: &m.target,
                    selector: &m.selector,
                    readonly: m.readonly,
                    output: m.output,
                    kind: mount_kind(&m.kind),
                })
                .collect(),
            secret_env: secret_env
                .iter()
                .map(|s| (s.id.as_str(), s.name.as_str()))
                .collect(),
            platform,
            inputs: input_parts(inputs),
        }),
        Op::File(file) => serialize_key(&(FILE_KEY, file, input_parts(inputs))),
        Op::Merge(_) => serialize_key(&(MERGE_KEY, input_parts(inputs))),
        Op::Source(source) => serialize_key(&(SOURCE_KEY, source, platform)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_graph::op::{ExecMeta, Mount, NetworkMode, SecretMount, SecurityMode};
    use hearth_graph::{GraphBuilder, NodeMetadata};

    fn exec(env: Vec<String>, proxy: Vec<String>, secret_mode: u32) -> hearth_graph::Definition {
        let mut b = GraphBuilder::new();
        let n = b.add(
            Op::Exec(ExecOp {
                meta: ExecMeta {
                    args: vec!["true".into()],
                    env,
                    cwd: "/".into(),
                    user: String::new(),
                    proxy_env: proxy,
                },
                mounts: vec![
                    Mount {
                        input: None,
                        target: "/".into(),
                        selector: "/".into(),
                        readonly: false,
                        output: Some(0),
                        kind: MountKind::Bind,
                    },
                    Mount {
                        input: None,
                        target: "/run/secrets/t".into(),
                        selector: String::new(),
                        readonly: true,
                        output: None,
                        kind: MountKind::Secret(SecretMount {
                            id: "t".into(),
                            optional: false,
                            uid: 0,
                            gid: 0,
                            mode: secret_mode,
                        }),
                    },
                ],
                network: NetworkMode::Default,
                security: SecurityMode::Sandbox,
                secret_env: vec![],
            }),
            vec![],
            None,
            NodeMetadata::default(),
        );
        b.finish(Some(n.output0())).unwrap()
    }

    fn key_of(def: &hearth_graph::Definition) -> Digest {
        let root = def.root().unwrap().node;
        let ctx = hearth_solver_test_ctx(def, root);
        cache_key(&ctx, &[]).unwrap()
    }

    fn hearth_solver_test_ctx(def: &hearth_graph::Definition, digest: Digest) -> NodeCtx<'_> {
        NodeCtx {
            digest,
            node: def.node(&digest).unwrap(),
            metadata: def.metadata(&digest),
            definition: def,
        }
    }

    #[test]
    fn proxies_are_not_in_the_key_but_env_and_secret_attributes_are() {
        let base = key_of(&exec(vec!["A=1".into()], vec![], 0o400));
        assert_eq!(
            base,
            key_of(&exec(
                vec!["A=1".into()],
                vec!["HTTP_PROXY=http://p".into()],
                0o400
            ))
        );
        assert_ne!(base, key_of(&exec(vec!["A=2".into()], vec![], 0o400)));
        assert_ne!(base, key_of(&exec(vec!["A=1".into()], vec![], 0o444)));
    }
}
