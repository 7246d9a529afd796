//! Content keys: the digest of exactly the files a step reads from one of its inputs.
//!
//! As in BuildKit, a COPY (or a bind mount) contributes what it reads, not how its
//! input was made: a stage that is rebuilt but produces the same files leaves the steps
//! copying from it cached, and a stage rebuilt with different output (for example under
//! `--no-cache-filter`) re-runs them. A synced context is read in place with the digests
//! its sync took; a layer result is read through a view, and since results never change,
//! each (layers, selection) digest is computed once and remembered in the store.

use std::path::PathBuf;
use std::sync::Arc;

use hearth_core::Digest;
use hearth_fileops::{ChecksumOptions, ContentDigests, checksum_cached};
use hearth_graph::Op;
use hearth_graph::op::{FileAction, MountKind};
use hearth_solver::NodeCtx;

use crate::context::SyncedDigests;
use crate::{Error, Host, Ref};

/// Store key prefix of remembered layer-result digests.
const MEMO_PREFIX: &str = "content-sum/v1/";

/// Store key prefix of digests remembered by the input's cache key: they let a later
/// build (or another machine, through an exported cache) key a step that copies from a
/// stage without loading that stage's result.
pub(crate) const KEY_MEMO_PREFIX: &str = "content-by-key/v1/";

/// The id of the digest of what `node` reads from input `index` whose cache key is
/// `input_key` (without the store prefix).
pub(crate) fn key_memo_id(node: &NodeCtx<'_>, index: usize, input_key: &Digest) -> String {
    let text = format!("{input_key}\0{:?}", selections(node, index));
    Digest::of(text.as_bytes()).hex().to_owned()
}

/// Whether an input's cache key determines its content. It does for every result the
/// store keeps by key; it does not for the build context and downloads, whose keys name
/// where they come from, not what they hold.
pub(crate) fn key_pins_content(node: &NodeCtx<'_>, index: usize) -> bool {
    node.input_node(index)
        .is_some_and(|n| !crate::is_read_fresh(&n.op))
}

/// The remembered digest for `memo_id`, if any.
pub(crate) fn remembered(host: &Host, memo_id: &str) -> Result<Option<Digest>, Error> {
    Ok(host
        .store
        .read()?
        .kv_get(&format!("{KEY_MEMO_PREFIX}{memo_id}"))?
        .and_then(|bytes| {
            std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.parse::<Digest>().ok())
        }))
}

/// What `node` reads from input `index`: (path, selection options) pairs.
fn selections(node: &NodeCtx<'_>, index: usize) -> Vec<(String, ChecksumOptions)> {
    let index = u32::try_from(index).ok();
    let mut out = Vec::new();
    match &node.node.op {
        Op::File(file) => {
            for action in &file.actions {
                if let FileAction::Copy(c) = action
                    && c.source == index
                {
                    out.push((
                        c.src.clone(),
                        ChecksumOptions {
                            follow_symlinks: c.follow_symlinks,
                            wildcard: c.allow_wildcard,
                            include_patterns: c.include_patterns.clone(),
                            exclude_patterns: c.exclude_patterns.clone(),
                        },
                    ));
                }
            }
        }
        Op::Exec(exec) => {
            for m in &exec.mounts {
                if m.input == index && matches!(m.kind, MountKind::Bind) && m.target != "/" {
                    out.push((m.selector.clone(), ChecksumOptions::default()));
                }
            }
        }
        _ => {}
    }
    out
}

fn combine(
    root: &std::path::Path,
    selections: &[(String, ChecksumOptions)],
    known: Option<&dyn ContentDigests>,
) -> Result<Digest, Error> {
    let mut parts = String::new();
    for (path, options) in selections {
        let digest = checksum_cached(root, path, options, known)?;
        parts.push_str(&format!("{path}\0{digest}\n"));
    }
    Ok(Digest::of(parts.as_bytes()))
}

/// The content digest of what `node` reads from its input `index`, whose result is `input`
/// and whose key is `input_key`.
pub(crate) async fn content_key(
    host: &Host,
    node: &NodeCtx<'_>,
    index: usize,
    input_key: &Digest,
    input: &Ref,
) -> Result<Digest, Error> {
    let by_key = key_pins_content(node, index).then(|| key_memo_id(node, index, input_key));
    let selections = selections(node, index);
    match input {
        Ref::Context(view) => {
            let view = Arc::clone(view);
            tokio::task::spawn_blocking(move || {
                let known = SyncedDigests {
                    dir: &view.dir,
                    index: &view.index,
                };
                combine(&view.dir, &selections, Some(&known))
            })
            .await
            .map_err(|e| Error::Key(format!("checksum task failed: {e}")))?
        }
        Ref::Layers(layers) => {
            let memo_key = {
                let ids: Vec<&str> = layers.iter().map(|l| l.as_str()).collect();
                let text = format!("{}\0{selections:?}", ids.join(","));
                format!("{MEMO_PREFIX}{}", Digest::of(text.as_bytes()).hex())
            };
            if let Some(bytes) = host.store.read()?.kv_get(&memo_key)?
                && let Some(digest) = std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|s| s.parse::<Digest>().ok())
            {
                if let Some(id) = &by_key {
                    remember(host, id, &digest)?;
                }
                return Ok(digest);
            }
            let scratch = host.scratch_dir("checksum")?;
            let layer_dirs: Vec<PathBuf> = host.layer_paths(layers);
            let snapshotter = host.snapshotter.clone();
            let scratch_for_task = scratch.clone();
            let digest = tokio::task::spawn_blocking(move || -> Result<Digest, Error> {
                let view = snapshotter.readonly(&layer_dirs, &scratch_for_task.join("view"))?;
                let digest = combine(view.path(), &selections, None);
                drop(view);
                digest
            })
            .await
            .map_err(|e| Error::Key(format!("checksum task failed: {e}")));
            let _ = hearth_fsroot::remove_tree(&scratch);
            let digest = digest??;
            let mut txn = host.store.write()?;
            txn.kv_put(&memo_key, digest.to_string().as_bytes())?;
            if let Some(id) = &by_key {
                txn.kv_put(
                    &format!("{KEY_MEMO_PREFIX}{id}"),
                    digest.to_string().as_bytes(),
                )?;
            }
            txn.commit()?;
            Ok(digest)
        }
    }
}

/// Remembers `digest` under `memo_id` unless it is already known.
pub(crate) fn remember(host: &Host, memo_id: &str, digest: &Digest) -> Result<(), Error> {
    if remembered(host, memo_id)?.as_ref() == Some(digest) {
        return Ok(());
    }
    let mut txn = host.store.write()?;
    txn.kv_put(
        &format!("{KEY_MEMO_PREFIX}{memo_id}"),
        digest.to_string().as_bytes(),
    )?;
    txn.commit()?;
    Ok(())
}
