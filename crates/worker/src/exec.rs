//! `Exec` nodes: a command in a runc container on an overlay of the input's layers.
//!
//! The overlay's upper directory becomes the step's new layer. Other mounts are
//! read-only overlays of their inputs (or writable ones whose changes are dropped),
//! persistent cache directories, tmpfs, and secret files on a private tmpfs. Mount
//! points the runtime had to create are removed afterwards, as BuildKit does. A step for a
//! platform the CPU does not run goes through an emulator (`emulation`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hearth_executor::runc::Stream;
use hearth_executor::stubs::MountStubs;
use hearth_executor::{MountSpec, Network, ProcessSpec, RunSpec, Security};
use hearth_fsroot::{DirCreate, Root};
use hearth_graph::op::{ExecOp, MountKind, NetworkMode, SecurityMode};
use hearth_solver::{CacheKey, Job, LogStream, NodeCtx};
use hearth_store::LayerOrigin;

use crate::cachemount::CacheMountGuard;
use crate::emulation::{self, Runner};
use crate::pin::{Source, pin};
use crate::secrets::SecretDir;
use crate::snapshot::{Mounted, Writable};
use crate::{BuildWorker, Error, Host, Ref, records};

/// Everything a running step holds; fields drop in this order, so pinned sources are
/// unmounted before the views they were taken from.
#[derive(Default)]
struct Held {
    pins: Vec<Source>,
    views: Vec<Mounted>,
    writable: Vec<Writable>,
    caches: Vec<CacheMountGuard>,
    secrets: Option<SecretDir>,
    scratch: Vec<PendingUpper>,
}

/// The upper directory of a writable overlay whose changes are thrown away (`rw`
/// binds without an output); removed when dropped.
struct PendingUpper(#[allow(dead_code)] hearth_store::PendingLayer);

/// Removes a step's scratch directory when the step is over.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = hearth_fsroot::remove_tree(&self.0);
    }
}

fn root_input(op: &ExecOp, inputs: &[Ref]) -> Result<Vec<hearth_store::LayerId>, Error> {
    let root = op.mounts.iter().find(|m| m.target == "/");
    match root.and_then(|m| m.input) {
        None => Ok(Vec::new()),
        Some(i) => match inputs.get(i as usize) {
            Some(Ref::Layers(l)) => Ok(l.as_ref().clone()),
            Some(Ref::Context(_)) => Err(Error::Internal(
                "the build context cannot be a root filesystem".into(),
            )),
            None => Err(Error::Internal(format!("missing input {i}"))),
        },
    }
}

pub(crate) async fn run(
    worker: &BuildWorker,
    node: &NodeCtx<'_>,
    op: &ExecOp,
    key: CacheKey,
    inputs: &[Ref],
    job: &Job,
) -> Result<Ref, Error> {
    let (host, session) = (worker.host(), worker.session());
    if op.network == NetworkMode::Host && !session.allow_network_host {
        return Err(Error::Entitlement(
            "network.host is not allowed: RUN --network=host needs the build to allow it (--allow network.host)".into(),
        ));
    }
    if op.security == SecurityMode::Insecure && !session.allow_insecure {
        return Err(Error::Entitlement(
            "security.insecure is not allowed: RUN --security=insecure needs the build to allow it (--allow security.insecure)"
                .into(),
        ));
    }
    let runner = emulation::runner_for(node.node.platform.as_ref(), &host.emulator_search())?;
    if let Some(status) = node.node.platform.as_ref().and_then(|p| runner.status(p)) {
        job.progress.status(status);
    }
    let root_layers = root_input(op, inputs)?;
    let scratch = ScratchDir(host.scratch_dir("exec")?);
    let rootfs = scratch.0.join("rootfs");
    std::fs::create_dir_all(&rootfs).map_err(|e| Error::io(&rootfs, e))?;
    let pending = host.store.new_layer()?;
    let root_mount = host.snapshotter.writable(
        &host.layer_paths(&root_layers),
        &pending.diff_dir(),
        &pending.work_dir(),
        &rootfs,
    )?;

    let outcome = run_mounted(worker, op, inputs, &rootfs, &scratch.0, &runner, job).await;
    let code = match outcome {
        Ok(code) => code,
        Err(e) => {
            drop(root_mount);
            return Err(e);
        }
    };
    // The upper dir is complete only once the view is finished (overlay flushes on unmount).
    root_mount.finish()?;
    if code != 0 {
        return Err(Error::Process {
            command: hearth_core_quote(&op.meta.args.join(" ")),
            code,
        });
    }
    let id = records::commit_layer(host, pending, LayerOrigin::Built)?;
    let mut layers = root_layers;
    layers.push(id);
    let name = node.metadata.map(|m| m.name.as_str()).unwrap_or("exec");
    records::save(host, key, &layers, "exec", name)?;
    Ok(Ref::Layers(Arc::new(layers)))
}

/// Go's `%q` for the command in error messages, as BuildKit prints it.
fn hearth_core_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

async fn run_mounted(
    worker: &BuildWorker,
    op: &ExecOp,
    inputs: &[Ref],
    rootfs: &Path,
    scratch: &Path,
    runner: &Runner,
    job: &Job,
) -> Result<i32, Error> {
    let (host, session) = (worker.host(), worker.session());
    let user_spec = if op.meta.user.is_empty() {
        "0"
    } else {
        op.meta.user.as_str()
    };
    let user = match hearth_fileops::resolve_user(user_spec, rootfs) {
        Ok(u) => u,
        // BuildKit falls back to root when the default user cannot be looked up.
        Err(_) if op.meta.user.is_empty() => hearth_fileops::ResolvedUser {
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
            home: "/".into(),
        },
        Err(e) => return Err(e.into()),
    };
    let cwd = if op.meta.cwd.is_empty() {
        "/".to_owned()
    } else {
        op.meta.cwd.clone()
    };
    create_workdir(rootfs, &cwd, user.uid, user.gid)?;

    let mut held = Held::default();
    let mut mounts = Vec::new();
    let mut env = op.meta.env.clone();
    env.extend(op.meta.proxy_env.iter().cloned());
    let targets: Vec<String> = op
        .mounts
        .iter()
        .filter(|m| m.target != "/")
        .map(|m| m.target.clone())
        .collect();
    let stubs = MountStubs::record(rootfs, targets.iter().map(String::as_str), true);

    for (n, m) in op
        .mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| m.target != "/")
    {
        let input = m.input.and_then(|i| inputs.get(i as usize));
        match &m.kind {
            MountKind::Bind => {
                let (view_root, keep) = view_of(host, input, scratch, n, m.readonly, &mut held)?;
                held.views.extend(keep);
                let source = pin(&view_root, &m.selector, &scratch.join(format!("pin-{n}")))?;
                mounts.push(MountSpec::Bind {
                    source: source.path().to_path_buf(),
                    destination: m.target.clone(),
                    readonly: m.readonly,
                });
                held.pins.push(source);
            }
            MountKind::Cache { id, sharing } => {
                let (seed, keep) = match input {
                    Some(_) => {
                        let (view_root, keep) = view_of(host, input, scratch, n, true, &mut held)?;
                        let seed =
                            pin(&view_root, &m.selector, &scratch.join(format!("seed-{n}")))?;
                        (Some(seed), keep)
                    }
                    None => (None, None),
                };
                restore_imported_mount(host, worker.registry(), id).await?;
                let guard = host
                    .cache_mounts
                    .acquire(id, *sharing, seed.as_ref().map(Source::path))
                    .await?;
                drop(seed);
                drop(keep);
                mounts.push(MountSpec::Bind {
                    source: guard.path.clone(),
                    destination: m.target.clone(),
                    readonly: m.readonly,
                });
                held.caches.push(guard);
            }
            MountKind::Tmpfs { size } => mounts.push(MountSpec::Tmpfs {
                destination: m.target.clone(),
                size: *size,
            }),
            MountKind::Secret(secret) => {
                let Some(value) = crate::secrets::value(session, &secret.id).await? else {
                    if secret.optional {
                        continue;
                    }
                    return Err(Error::MissingSecret {
                        id: secret.id.clone(),
                    });
                };
                if held.secrets.is_none() {
                    held.secrets = Some(SecretDir::new(scratch.join("secrets"))?);
                }
                let dir = held
                    .secrets
                    .as_ref()
                    .ok_or_else(|| Error::Internal("secret dir".into()))?;
                let file =
                    dir.write(&format!("{n}"), &value, secret.uid, secret.gid, secret.mode)?;
                mounts.push(MountSpec::Bind {
                    source: file,
                    destination: m.target.clone(),
                    readonly: true,
                });
            }
            MountKind::Ssh(ssh) => {
                if ssh.optional {
                    continue;
                }
                return Err(Error::Unsupported(format!(
                    "RUN --mount=type=ssh (id {}) is not supported yet; forward the agent with --ssh once available",
                    ssh.id
                )));
            }
        }
    }
    for secret in &op.secret_env {
        match crate::secrets::value(session, &secret.id).await? {
            Some(value) => env.push(format!(
                "{}={}",
                secret.name,
                String::from_utf8_lossy(&value)
            )),
            None if secret.optional => {}
            None => {
                return Err(Error::MissingSecret {
                    id: secret.id.clone(),
                });
            }
        }
    }

    let (args, emulator) = emulation::wrap(runner, &op.meta.args, rootfs, &env);
    // Last, so that no `RUN --mount` at the same destination replaces it (later mounts win).
    mounts.extend(emulator);

    let id = format!("hearth-{}", crate::random_id());
    let network = match op.network {
        NetworkMode::None => Network::None,
        NetworkMode::Default | NetworkMode::Host => Network::Host,
    };
    let spec = RunSpec {
        id: id.clone(),
        rootfs: rootfs.to_path_buf(),
        process: ProcessSpec {
            args,
            env,
            cwd,
            uid: user.uid,
            gid: user.gid,
            additional_gids: user.oci_additional_gids(),
        },
        mounts,
        network,
        security: match op.security {
            SecurityMode::Sandbox => Security::Sandbox,
            SecurityMode::Insecure => Security::Insecure,
        },
        hostname: hearth_executor::DEFAULT_HOSTNAME.to_owned(),
        resolv_conf: host.state_dir.join(if network == Network::Host {
            "resolv.conf"
        } else {
            "resolv.conf.isolated"
        }),
        hosts: host.state_dir.join("hosts"),
        cgroups_path: format!("/hearth/{id}"),
    };
    host.metrics.execs.fetch_add(1, Ordering::SeqCst);
    let progress = job.progress.clone();
    let mut sink = |stream: Stream, data: &[u8]| {
        let stream = match stream {
            Stream::Stdout => LogStream::Stdout,
            Stream::Stderr => LogStream::Stderr,
        };
        progress.log(stream, data);
    };
    let result = host
        .runc
        .run(&spec, &mut sink, job.cancel.cancelled())
        .await;
    stubs.clean(rootfs);
    drop(held);
    Ok(result?.code)
}

/// A directory to bind from an input: the context, or an overlay of its layers.
fn view_of(
    host: &Host,
    input: Option<&Ref>,
    scratch: &Path,
    n: usize,
    readonly: bool,
    held: &mut Held,
) -> Result<(PathBuf, Option<Mounted>), Error> {
    let target = scratch.join(format!("mount-{n}"));
    std::fs::create_dir_all(&target).map_err(|e| Error::io(&target, e))?;
    let layer_dirs: Vec<PathBuf> = match input {
        None => Vec::new(),
        Some(Ref::Layers(l)) => host.layer_paths(l),
        Some(Ref::Context(view)) if readonly => return Ok((view.dir.clone(), None)),
        Some(Ref::Context(view)) => vec![view.dir.clone()],
    };
    if readonly {
        let m = host.snapshotter.readonly(&layer_dirs, &target)?;
        return Ok((m.path().to_path_buf(), Some(m)));
    }
    // Writes to a `rw` bind without an output are discarded: give it a throwaway upper.
    let pending = host.store.new_layer()?;
    let m = host.snapshotter.writable(
        &layer_dirs,
        &pending.diff_dir(),
        &pending.work_dir(),
        &target,
    )?;
    held.scratch.push(PendingUpper(pending));
    held.writable.push(m);
    Ok((target, None))
}

/// Creates the working directory (and missing parents) owned by the step's user, as
/// BuildKit does before starting the process: the path is resolved inside the root
/// filesystem as runc's `SecureJoin` resolves the uncleaned cwd (so `/a/../b` creates
/// only `/b`, and a link leads where it points inside the image), and what is missing
/// is created through descriptors, never through a link.
fn create_workdir(rootfs: &Path, cwd: &str, uid: u32, gid: u32) -> Result<(), Error> {
    let root = Root::open(rootfs).map_err(|e| Error::io(rootfs, e))?;
    let invalid = |e: std::io::Error| Error::Workdir {
        path: cwd.to_owned(),
        cause: e,
    };
    let resolved = root.resolve(cwd.as_bytes()).map_err(invalid)?;
    let how = DirCreate {
        mode: 0o755,
        inherit_setgid: true,
        owner: Some((uid, gid)),
        replace: false,
    };
    root.open_dir(&resolved, Some(&how), &mut |_| {})
        .map_err(|e| invalid(e.into()))?;
    Ok(())
}

/// Fills a cache mount that does not exist yet from an imported cache that carried it,
/// downloading with the build's own credentials.
async fn restore_imported_mount(
    host: &Host,
    registry: &hearth_registry::Client,
    id: &str,
) -> Result<(), Error> {
    let dir = host.cache_mounts.dir_for(id);
    if dir.exists() {
        return Ok(());
    }
    let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(());
    };
    let staging = dir.with_extension(format!("restore-{}", crate::random_id()));
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let restored = crate::imported::restore_mount(host, registry, &name, &staging).await;
    match restored {
        Ok(true) => {
            if std::fs::rename(&staging, &dir).is_err() {
                // Another step made the directory first; theirs is as good.
                let _ = hearth_fsroot::remove_tree(&staging);
            }
            Ok(())
        }
        Ok(false) => {
            let _ = hearth_fsroot::remove_tree(&staging);
            Ok(())
        }
        Err(e) => {
            let _ = hearth_fsroot::remove_tree(&staging);
            Err(e)
        }
    }
}
