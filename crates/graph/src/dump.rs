//! A stable, human-readable text form of a [`Definition`], used by
//! `hearth debug dockerfile` and by snapshot tests.

use std::collections::HashMap;
use std::fmt::Write as _;

use hearth_core::Digest;

use crate::definition::{Definition, Node};
use crate::op::{
    CacheSharing, Chmod, Chown, FileAction, MountKind, NetworkMode, Op, SecurityMode, SourceOp,
    UserRef,
};

impl Definition {
    /// Renders the graph one node per paragraph, in dependency order. Nodes are
    /// numbered `n1, n2, …` for readability and shown with their short digest.
    pub fn dump(&self) -> String {
        let mut numbers: HashMap<Digest, usize> = HashMap::new();
        let mut out = String::new();
        for (index, (digest, node)) in self.nodes_in_order().enumerate() {
            numbers.insert(*digest, index + 1);
            let name = |i: u32| -> String {
                node.inputs
                    .get(i as usize)
                    .map(|r| {
                        format!(
                            "n{}.{}",
                            numbers.get(&r.node).copied().unwrap_or(0),
                            r.output
                        )
                    })
                    .unwrap_or_else(|| format!("<missing input {i}>"))
            };
            let _ = writeln!(out, "n{} {} {}", index + 1, digest.short(), headline(node));
            if let Some(meta) = self.metadata(digest) {
                if !meta.name.is_empty() {
                    let _ = writeln!(out, "    name: {}", meta.name);
                }
                if meta.ignore_cache {
                    let _ = writeln!(out, "    ignore-cache");
                }
            }
            write_details(&mut out, node, &name);
        }
        match self.root() {
            Some(root) => {
                let n = numbers.get(&root.node).copied().unwrap_or(0);
                let _ = writeln!(out, "root: n{n}.{} {}", root.output, root.node.short());
            }
            None => {
                let _ = writeln!(out, "root: scratch");
            }
        }
        out
    }
}

fn headline(node: &Node) -> String {
    let platform = node
        .platform
        .as_ref()
        .map(|p| format!(" [{}]", p.format_all()))
        .unwrap_or_default();
    let what = match &node.op {
        Op::Source(SourceOp::Image(img)) => format!("source image {}", img.reference),
        Op::Source(SourceOp::Local(local)) => format!("source local {}", local.name),
        Op::Source(SourceOp::Http(http)) => format!("source http {}", http.url),
        Op::Source(SourceOp::Git(git)) => format!("source git {}#{}", git.remote, git.reference),
        Op::Exec(exec) => format!("exec {:?}", exec.meta.args),
        Op::File(_) => "file".to_owned(),
        Op::Merge(_) => "merge".to_owned(),
    };
    format!("{what}{platform}")
}

fn write_details(out: &mut String, node: &Node, name: &dyn Fn(u32) -> String) {
    match &node.op {
        Op::Source(SourceOp::Local(local)) => {
            if !local.follow_paths.is_empty() {
                let _ = writeln!(out, "    follow: {:?}", local.follow_paths);
            }
            if !local.exclude_patterns.is_empty() {
                let _ = writeln!(out, "    exclude: {:?}", local.exclude_patterns);
            }
        }
        Op::Source(SourceOp::Http(http)) => {
            let _ = writeln!(out, "    filename: {}", http.filename);
            if let Some(sum) = &http.checksum {
                let _ = writeln!(out, "    checksum: {sum}");
            }
        }
        Op::Source(SourceOp::Git(git)) => {
            let _ = writeln!(
                out,
                "    keep-git-dir={} subdir={:?} checksum={:?}",
                git.keep_git_dir, git.subdir, git.checksum
            );
        }
        Op::Source(SourceOp::Image(_)) => {}
        Op::Exec(exec) => {
            let _ = writeln!(out, "    env: {:?}", exec.meta.env);
            let _ = writeln!(out, "    cwd: {}", exec.meta.cwd);
            if !exec.meta.user.is_empty() {
                let _ = writeln!(out, "    user: {}", exec.meta.user);
            }
            if exec.network != NetworkMode::Default {
                let _ = writeln!(out, "    network: {:?}", exec.network);
            }
            if exec.security != SecurityMode::Sandbox {
                let _ = writeln!(out, "    security: {:?}", exec.security);
            }
            for mount in &exec.mounts {
                let source = mount
                    .input
                    .map(name)
                    .unwrap_or_else(|| "scratch".to_owned());
                let mut flags = Vec::new();
                if mount.readonly {
                    flags.push("ro".to_owned());
                }
                if let Some(o) = mount.output {
                    flags.push(format!("output={o}"));
                }
                let kind = match &mount.kind {
                    MountKind::Bind => "bind".to_owned(),
                    MountKind::Cache { id, sharing } => format!(
                        "cache id={id:?} sharing={}",
                        match sharing {
                            CacheSharing::Shared => "shared",
                            CacheSharing::Private => "private",
                            CacheSharing::Locked => "locked",
                        }
                    ),
                    MountKind::Tmpfs { size } => format!("tmpfs size={size}"),
                    MountKind::Secret(s) => format!(
                        "secret id={:?} optional={} uid={} gid={} mode={:o}",
                        s.id, s.optional, s.uid, s.gid, s.mode
                    ),
                    MountKind::Ssh(s) => format!(
                        "ssh id={:?} optional={} uid={} gid={} mode={:o}",
                        s.id, s.optional, s.uid, s.gid, s.mode
                    ),
                };
                let _ = writeln!(
                    out,
                    "    mount {} <- {}:{} {} {}",
                    mount.target,
                    source,
                    mount.selector,
                    kind,
                    flags.join(" ")
                );
            }
            for secret in &exec.secret_env {
                let _ = writeln!(
                    out,
                    "    secret-env {}={:?} optional={}",
                    secret.name, secret.id, secret.optional
                );
            }
        }
        Op::File(file) => {
            let base = file.base.map(name).unwrap_or_else(|| "scratch".to_owned());
            let _ = writeln!(out, "    base: {base}");
            for action in &file.actions {
                let line = match action {
                    FileAction::Copy(c) => {
                        let source = c.source.map(name).unwrap_or_else(|| "scratch".to_owned());
                        let mut flags = Vec::new();
                        for (on, flag) in [
                            (c.follow_symlinks, "follow-symlinks"),
                            (c.dir_contents_only, "contents-only"),
                            (c.attempt_unpack, "unpack"),
                            (c.create_dest_path, "create-dest"),
                            (c.allow_wildcard, "wildcard"),
                            (c.allow_empty_wildcard, "empty-wildcard-ok"),
                        ] {
                            if on {
                                flags.push(flag.to_owned());
                            }
                        }
                        if let Some(owner) = &c.owner {
                            flags.push(format!("chown={}", chown(owner)));
                        }
                        if let Some(mode) = &c.mode {
                            flags.push(match mode {
                                Chmod::Octal(m) => format!("chmod={m:o}"),
                                Chmod::Symbolic(s) => format!("chmod={s}"),
                            });
                        }
                        if !c.include_patterns.is_empty() {
                            flags.push(format!("include={:?}", c.include_patterns));
                        }
                        if !c.exclude_patterns.is_empty() {
                            flags.push(format!("exclude={:?}", c.exclude_patterns));
                        }
                        format!("copy {source}:{} -> {} {}", c.src, c.dest, flags.join(" "))
                    }
                    FileAction::Mkdir(m) => format!(
                        "mkdir {} mode={:o} parents={}{}",
                        m.path,
                        m.mode,
                        m.make_parents,
                        m.owner
                            .as_ref()
                            .map(|o| format!(" chown={}", chown(o)))
                            .unwrap_or_default()
                    ),
                    FileAction::Mkfile(m) => format!(
                        "mkfile {} mode={:o} data={:?}{}",
                        m.path,
                        m.mode,
                        m.data,
                        m.owner
                            .as_ref()
                            .map(|o| format!(" chown={}", chown(o)))
                            .unwrap_or_default()
                    ),
                    FileAction::Rm(r) => format!(
                        "rm {} allow-not-found={} wildcard={}",
                        r.path, r.allow_not_found, r.allow_wildcard
                    ),
                };
                let _ = writeln!(out, "    {}", line.trim_end());
            }
        }
        Op::Merge(_) => {
            let inputs: Vec<String> = (0..node.inputs.len())
                .map(|i| name(u32::try_from(i).unwrap_or(u32::MAX)))
                .collect();
            let _ = writeln!(out, "    layers: {}", inputs.join(", "));
        }
    }
}

fn user_ref(r: &UserRef) -> String {
    match r {
        UserRef::Id(id) => id.to_string(),
        UserRef::Name(name) => name.clone(),
    }
}

fn chown(owner: &Chown) -> String {
    let user = owner.user.as_ref().map(user_ref).unwrap_or_default();
    match &owner.group {
        Some(group) => format!("{user}:{}", user_ref(group)),
        None => user,
    }
}
