//! `File` nodes: copy, mkdir, mkfile and rm on an overlay of the base's layers, whose
//! upper directory becomes the new layer.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hearth_fileops::Ids;
use hearth_graph::op::{Chown, FileAction, FileOp};
use hearth_solver::{CacheKey, Job, NodeCtx};
use hearth_store::{LayerId, LayerOrigin};

use crate::snapshot::Mounted;
use crate::{Error, Host, Ref, records};

fn layers_of(input: Option<&Ref>) -> Result<Vec<LayerId>, Error> {
    match input {
        None => Ok(Vec::new()),
        Some(Ref::Layers(l)) => Ok(l.as_ref().clone()),
        Some(Ref::Context(_)) => Err(Error::Internal(
            "a file operation cannot modify the build context".into(),
        )),
    }
}

pub(crate) async fn run(
    host: &Host,
    node: &NodeCtx<'_>,
    op: &FileOp,
    key: CacheKey,
    inputs: &[Ref],
    job: &Job,
) -> Result<Ref, Error> {
    let _ = job;
    let base_layers = layers_of(op.base.and_then(|i| inputs.get(i as usize)))?;
    let scratch = host.scratch_dir("file")?;
    let _cleanup = RemoveOnDrop(scratch.clone());
    let root = scratch.join("root");
    std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
    let pending = host.store.new_layer()?;
    let root_mount = host.snapshotter.writable(
        &host.layer_paths(&base_layers),
        &pending.diff_dir(),
        &pending.work_dir(),
        &root,
    )?;

    // Sources: one view per input read by a copy.
    let mut views: Vec<Mounted> = Vec::new();
    let mut source_roots: Vec<Option<PathBuf>> = vec![None; inputs.len()];
    for action in &op.actions {
        let FileAction::Copy(copy) = action else {
            continue;
        };
        let Some(i) = copy.source else { continue };
        let i = i as usize;
        if source_roots.get(i).is_some_and(Option::is_some) {
            continue;
        }
        let path = match inputs.get(i) {
            Some(Ref::Context(view)) => view.dir.clone(),
            Some(Ref::Layers(layers)) => {
                let target = scratch.join(format!("src-{i}"));
                std::fs::create_dir_all(&target).map_err(|e| Error::io(&target, e))?;
                let m = host
                    .snapshotter
                    .readonly(&host.layer_paths(layers), &target)?;
                let p = m.path().to_path_buf();
                views.push(m);
                p
            }
            None => return Err(Error::Internal(format!("copy source {i} is missing"))),
        };
        if let Some(slot) = source_roots.get_mut(i) {
            *slot = Some(path);
        }
    }
    let empty = host.empty_dir.clone();
    let has_base = op.base.is_some();
    let actions = op.actions.clone();
    let root_for_task = root.clone();
    host.metrics.file_ops.fetch_add(1, Ordering::SeqCst);
    tokio::task::spawn_blocking(move || -> Result<(), Error> {
        // Names in --chown are looked up in the base filesystem; an empty base (COPY
        // --link) has no user database, as in BuildKit.
        let owner_of = |chown: &Option<Chown>| -> Result<Option<Ids>, Error> {
            match chown {
                None => Ok(None),
                Some(c) => {
                    let db_root = has_base.then_some(root_for_task.as_path());
                    Ok(Some(hearth_fileops::resolve_owner(c, db_root)?))
                }
            }
        };
        for action in &actions {
            match action {
                FileAction::Copy(c) => {
                    let src_root = c
                        .source
                        .and_then(|i| source_roots.get(i as usize).cloned().flatten())
                        .unwrap_or_else(|| empty.clone());
                    hearth_fileops::copy(&src_root, &root_for_task, c, owner_of(&c.owner)?)?;
                }
                FileAction::Mkdir(m) => {
                    hearth_fileops::mkdir(&root_for_task, m, owner_of(&m.owner)?)?
                }
                FileAction::Mkfile(m) => {
                    hearth_fileops::mkfile(&root_for_task, m, owner_of(&m.owner)?)?
                }
                FileAction::Rm(r) => hearth_fileops::rm(&root_for_task, r)?,
            }
        }
        Ok(())
    })
    .await
    .map_err(|source| Error::Task {
        what: "file operation task",
        source,
    })??;
    drop(views);
    root_mount.finish()?;
    let id = records::commit_layer(host, pending, LayerOrigin::Built)?;
    let mut layers = base_layers;
    layers.push(id);
    let name = node.metadata.map(|m| m.name.as_str()).unwrap_or("file");
    records::save(host, key, &layers, "file", name)?;
    Ok(Ref::Layers(Arc::new(layers)))
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = hearth_fsroot::remove_tree(&self.0);
    }
}
