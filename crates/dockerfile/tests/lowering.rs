//! Lowering behaviour, checked through the public `plan` API.
//!
//! Base image configurations are supplied by `Images`, a table of configs: lowering
//! only reads a base image's configuration, so a registry adds nothing here (the
//! engine's tests pull real images from a real registry).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;

use expect_test::expect;
use hearth_core::image::ImageConfig;
use hearth_core::{Digest, Platform};
use hearth_dockerfile::{
    BuildOptions, BuildPlan, Diagnostics, ImageResolver, NoCache, ResolvedImage,
};
use hearth_graph::op::{FileAction, MountKind, NetworkMode, SourceOp};
use hearth_graph::{Node, Op};

struct Images(BTreeMap<String, ImageConfig>);

impl Images {
    fn busybox() -> Self {
        let mut config = ImageConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..ImageConfig::default()
        };
        config.config.env =
            vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()];
        config.config.cmd = vec!["sh".into()];
        config.rootfs.diff_ids.push(Digest::of(b"busybox layer"));
        let mut onbuild = config.clone();
        onbuild.config.on_build = vec!["RUN echo triggered".into(), "COPY trigger.txt /".into()];
        let mut with_user = config.clone();
        with_user.config.user = "app".into();
        with_user.config.working_dir = "/home/app".into();
        let mut map = BTreeMap::new();
        map.insert("docker.io/library/busybox:latest".to_owned(), config);
        map.insert("docker.io/library/onbuild:latest".to_owned(), onbuild);
        map.insert("docker.io/library/withuser:latest".to_owned(), with_user);
        Self(map)
    }
}

impl ImageResolver for Images {
    fn resolve(&self, reference: &str, _platform: &Platform) -> Result<ResolvedImage, String> {
        let config = self
            .0
            .get(reference)
            .cloned()
            .ok_or_else(|| "not found".to_owned())?;
        Ok(ResolvedImage {
            digest: Some(Digest::of(reference.as_bytes())),
            config,
        })
    }
}

fn options() -> BuildOptions {
    let mut o = BuildOptions::for_host();
    o.build_platform = Platform::new("linux", "amd64", "");
    o
}

fn plan_with(text: &str, options: &BuildOptions) -> Result<BuildPlan, Diagnostics> {
    hearth_dockerfile::plan(text, options, &Images::busybox())
}

fn plan(text: &str) -> BuildPlan {
    plan_with(text, &options()).unwrap_or_else(|d| panic!("unexpected errors: {d}"))
}

fn errors(text: &str) -> Vec<(usize, String)> {
    match plan_with(text, &options()) {
        Ok(_) => panic!("expected errors"),
        Err(d) => d
            .errors()
            .map(|e| (e.lines.start, e.message.clone()))
            .collect(),
    }
}

/// Every exec node, in dependency order.
fn execs(plan: &BuildPlan) -> Vec<&Node> {
    plan.definition
        .nodes_in_order()
        .map(|(_, n)| n)
        .filter(|n| matches!(n.op, Op::Exec(_)))
        .collect()
}

fn exec_env(node: &Node) -> Vec<String> {
    match &node.op {
        Op::Exec(e) => e.meta.env.clone(),
        _ => panic!("not an exec"),
    }
}

fn exec_args(node: &Node) -> Vec<String> {
    match &node.op {
        Op::Exec(e) => e.meta.args.clone(),
        _ => panic!("not an exec"),
    }
}

#[test]
fn unused_stages_produce_nothing_even_when_they_would_fail() {
    let p = plan(
        "FROM busybox AS broken\nRUN --mount=type=cache,target=/x,mode=999 exit 1\nCOPY missing /\n\nFROM busybox\nRUN echo ok\n",
    );
    let args: Vec<_> = execs(&p).iter().map(|n| exec_args(n)).collect();
    assert_eq!(
        args,
        vec![vec!["/bin/sh".to_owned(), "-c".into(), "echo ok".into()]]
    );
    assert!(!p.stages[0].reachable);
    assert!(
        p.stages[0].steps.is_empty(),
        "an unused stage is never dispatched"
    );
}

#[test]
fn identical_work_in_two_stages_is_one_node() {
    let p = plan(
        "FROM busybox AS a\nRUN echo shared > /s\nFROM busybox AS b\nRUN echo shared > /s\nFROM scratch\nCOPY --from=a /s /a\nCOPY --from=b /s /b\n",
    );
    assert_eq!(execs(&p).len(), 1);
    let images = p
        .definition
        .nodes_in_order()
        .filter(|(_, n)| matches!(n.op, Op::Source(SourceOp::Image(_))))
        .count();
    assert_eq!(images, 1);
}

#[test]
fn stages_are_found_by_name_index_base_copy_and_mount() {
    let p = plan(concat!(
        "FROM busybox AS Base\nRUN echo base > /b\n",
        "FROM base AS child\nRUN cat /b\n",
        "FROM busybox\nCOPY --from=0 /b /from-index\nCOPY --from=CHILD /b /from-name\n",
        "RUN --mount=type=bind,from=child,source=/b,target=/mnt/b cat /mnt/b\n",
    ));
    let base_run = execs(&p)
        .into_iter()
        .find(|n| exec_args(n)[2] == "echo base > /b")
        .unwrap()
        .clone();
    let base_digest = hearth_graph::node_digest(&base_run).unwrap();
    let child_run = execs(&p)
        .into_iter()
        .find(|n| exec_args(n)[2] == "cat /b")
        .unwrap()
        .clone();
    assert_eq!(
        child_run.inputs[0].node, base_digest,
        "FROM base starts from the base stage"
    );
    let child_digest = hearth_graph::node_digest(&child_run).unwrap();
    let last = execs(&p).into_iter().last().unwrap().clone();
    let Op::Exec(exec) = &last.op else {
        unreachable!()
    };
    let mnt = exec.mounts.iter().find(|m| m.target == "/mnt/b").unwrap();
    assert_eq!(last.inputs[mnt.input.unwrap() as usize].node, child_digest);
    assert_eq!(mnt.selector, "/b");
    assert!(mnt.readonly);
    let copies: Vec<_> = p
        .definition
        .nodes_in_order()
        .filter_map(|(_, n)| match &n.op {
            Op::File(f) => Some((n, f)),
            _ => None,
        })
        .filter_map(|(n, f)| match &f.actions[0] {
            FileAction::Copy(c) => {
                Some((n.inputs[c.source.unwrap() as usize].node, c.dest.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        copies,
        vec![
            (base_digest, "/from-index".to_owned()),
            (child_digest, "/from-name".to_owned())
        ]
    );
}

#[test]
fn global_args_need_redeclaring_inside_a_stage() {
    let p =
        plan("ARG TAG=latest\nARG UNUSED=u\nFROM busybox:${TAG}\nARG TAG\nRUN echo $TAG $UNUSED\n");
    let env = exec_env(execs(&p)[0]);
    assert!(env.contains(&"TAG=latest".to_owned()), "{env:?}");
    assert!(!env.iter().any(|e| e.starts_with("UNUSED=")));
    assert_eq!(
        p.stages[0].base,
        format!(
            "docker.io/library/busybox:latest@{}",
            Digest::of(b"docker.io/library/busybox:latest")
        )
    );
}

#[test]
fn build_args_override_defaults_and_undeclared_ones_are_ignored() {
    let mut o = options();
    o.build_args.insert("GREETING".into(), "hi there".into());
    o.build_args.insert("NOT_DECLARED".into(), "x".into());
    let p = plan_with("FROM busybox\nARG GREETING=hello\nRUN echo $GREETING\n", &o).unwrap();
    let env = exec_env(execs(&p)[0]);
    assert!(env.contains(&"GREETING=hi there".to_owned()));
    assert!(!env.iter().any(|e| e.starts_with("NOT_DECLARED")));
    assert!(
        p.image
            .config
            .env
            .iter()
            .all(|e| !e.starts_with("GREETING")),
        "ARG values stay out of the image"
    );
    assert_eq!(
        p.image.history.last().unwrap().created_by,
        "RUN |1 GREETING=hi there /bin/sh -c echo $GREETING # buildkit"
    );
}

#[test]
fn env_and_arg_of_the_same_name_follow_buildkit_order() {
    // An ENV after an ARG wins; an ARG after an ENV sets the RUN environment too
    // (BuildKit adds ARG values to the step environment), but never the image's.
    let p = plan("FROM busybox\nARG V=arg\nENV V=env\nRUN echo 1\nARG V=arg2\nRUN echo 2\n");
    let runs = execs(&p);
    assert!(exec_env(runs[0]).contains(&"V=env".to_owned()));
    assert!(exec_env(runs[1]).contains(&"V=arg2".to_owned()));
    assert_eq!(p.image.env_value("V"), Some("env"));
}

#[test]
fn automatic_platform_args() {
    let mut o = options();
    o.target_platform = Some(Platform::parse("linux/arm64").unwrap());
    let p = plan_with(
        "FROM --platform=$BUILDPLATFORM busybox AS build\nARG TARGETARCH\nARG BUILDARCH\nRUN echo $TARGETARCH $BUILDARCH\nFROM busybox\nCOPY --from=build /x /x\nRUN echo $TARGETARCH\n",
        &o,
    )
    .unwrap();
    let runs = execs(&p);
    let build_env = exec_env(runs[0]);
    assert!(build_env.contains(&"TARGETARCH=arm64".to_owned()));
    assert!(build_env.contains(&"BUILDARCH=amd64".to_owned()));
    assert_eq!(runs[0].platform.as_ref().unwrap().architecture, "amd64");
    assert!(
        !exec_env(runs[1])
            .iter()
            .any(|e| e.starts_with("TARGETARCH")),
        "undeclared in the stage"
    );
    assert_eq!(runs[1].platform.as_ref().unwrap().architecture, "arm64");
    assert_eq!(p.image.architecture, "arm64");
}

#[test]
fn proxy_build_args_reach_runs_but_not_their_environment_list() {
    let mut o = options();
    o.build_args
        .insert("HTTPS_PROXY".into(), "http://proxy:3128".into());
    let p = plan_with("FROM busybox\nRUN wget https://example.com\n", &o).unwrap();
    let Op::Exec(exec) = &execs(&p)[0].op else {
        unreachable!()
    };
    assert_eq!(
        exec.meta.proxy_env,
        vec![
            "HTTPS_PROXY=http://proxy:3128",
            "https_proxy=http://proxy:3128"
        ]
    );
    assert!(!exec.meta.env.iter().any(|e| e.contains("proxy")));
}

#[test]
fn copy_link_is_a_merge_of_an_independent_layer() {
    let p = plan("FROM busybox\nCOPY --link a.txt /dst/\n");
    let root = p.definition.root().unwrap();
    let node = p.definition.node(&root.node).unwrap();
    assert!(matches!(node.op, Op::Merge(_)));
    assert_eq!(node.inputs.len(), 2);
    let layer = p.definition.node(&node.inputs[1].node).unwrap();
    let Op::File(file) = &layer.op else {
        panic!("the linked layer is a file op")
    };
    assert_eq!(file.base, None, "the copy starts from an empty layer");
    // With --chmod, BuildKit does not link.
    let p = plan("FROM busybox\nCOPY --link --chmod=600 a.txt /dst/\n");
    let root = p
        .definition
        .node(&p.definition.root().unwrap().node)
        .unwrap();
    assert!(matches!(root.op, Op::File(_)));
}

#[test]
fn run_heredocs() {
    let p = plan(
        "FROM busybox\nRUN <<EOF\necho a\necho b\nEOF\nRUN <<EOF\n#!/bin/sh -e\necho script\nEOF\nRUN cat <<A <<-B > /f\nx\nA\n\ty\n\tB\n",
    );
    let runs = execs(&p);
    assert_eq!(
        exec_args(runs[0]),
        vec!["/bin/sh", "-c", "echo a\necho b\n"]
    );
    assert_eq!(exec_args(runs[1]), vec!["/bin/sh", "-c", "/dev/pipes/EOF"]);
    let Op::Exec(exec) = &runs[1].op else {
        unreachable!()
    };
    let pipe = exec
        .mounts
        .iter()
        .find(|m| m.target == "/dev/pipes/")
        .unwrap();
    assert!(pipe.readonly);
    // The bodies are passed on whole for the shell to handle, each followed by its
    // delimiter as written in the heredoc word (without the tabs `<<-` allows).
    assert_eq!(
        exec_args(runs[2]),
        vec!["/bin/sh", "-c", "cat <<A <<-B > /f\nx\nA\n\ty\nB"]
    );
    assert_eq!(p.stages[0].steps[1], "[2/4] RUN <<EOF (echo a...)");
}

#[test]
fn secrets_and_ssh_mounts() {
    let p = plan(concat!(
        "FROM busybox\n",
        "RUN --mount=type=secret,id=token,env=TOKEN --mount=type=secret,id=npmrc,target=/root/.npmrc,required ",
        "--mount=type=ssh echo $TOKEN\n",
    ));
    let Op::Exec(exec) = &execs(&p)[0].op else {
        unreachable!()
    };
    let secret = exec
        .mounts
        .iter()
        .find(|m| m.target == "/root/.npmrc")
        .unwrap();
    let MountKind::Secret(s) = &secret.kind else {
        panic!()
    };
    assert_eq!((s.id.as_str(), s.optional, s.mode), ("npmrc", false, 0o400));
    assert_eq!(exec.secret_env.len(), 1);
    assert_eq!(
        (
            exec.secret_env[0].id.as_str(),
            exec.secret_env[0].name.as_str()
        ),
        ("token", "TOKEN")
    );
    assert!(!exec.meta.env.iter().any(|e| e.starts_with("TOKEN=")));
    assert!(
        exec.meta
            .env
            .contains(&"SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0".to_owned())
    );
    let ids: Vec<_> = p
        .secrets
        .iter()
        .map(|s| (s.id.as_str(), s.required))
        .collect();
    assert_eq!(ids, vec![("npmrc", true), ("token", false)]);
    assert_eq!(p.ssh[0].id, "default");
    // Progress shows a secret variable as ****, never its name's value. The mounts
    // add implicit stages, so even a one-stage file gets a stage prefix (as in BuildKit).
    assert!(
        p.stages[0].steps[1].starts_with("[stage-0 2/2] RUN --mount=type=secret"),
        "{}",
        p.stages[0].steps[1]
    );
    assert!(
        p.stages[0].steps[1].ends_with("echo ****"),
        "{}",
        p.stages[0].steps[1]
    );
}

#[test]
fn cache_and_tmpfs_mounts() {
    let p = plan(
        "FROM busybox\nWORKDIR /src\nRUN --mount=type=cache,target=.cache,sharing=locked,uid=1000 --mount=type=tmpfs,target=/tmp,size=1m --network=none ls\n",
    );
    let Op::Exec(exec) = &execs(&p)[0].op else {
        unreachable!()
    };
    assert_eq!(exec.network, NetworkMode::None);
    let cache = exec
        .mounts
        .iter()
        .find(|m| m.target == "/src/.cache")
        .unwrap();
    assert_eq!(
        cache.selector, "/cache",
        "owner options go through a helper layer"
    );
    let MountKind::Cache { id, .. } = &cache.kind else {
        panic!()
    };
    assert_eq!(id, "/.cache");
    let tmpfs = exec.mounts.iter().find(|m| m.target == "/tmp").unwrap();
    assert_eq!(tmpfs.kind, MountKind::Tmpfs { size: 1 << 20 });
    assert_eq!(exec.meta.cwd, "/src");
}

#[test]
fn stage_reference_errors() {
    assert_eq!(
        errors("FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n"),
        vec![(
            2,
            "circular dependency detected on stage: a (a -> b (line 2) -> a (line 4))".to_owned()
        )]
    );
    assert_eq!(
        errors("FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nFROM a\n"),
        vec![(
            2,
            "cannot copy from stage \"b\", it needs to be defined before current stage \"a\""
                .to_owned()
        )]
    );
    assert_eq!(
        errors("FROM busybox AS a\nCOPY --from=$X /x /y\n"),
        vec![(2, "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround".to_owned())]
    );
    let mut o = options();
    o.target = Some("biuld".into());
    let err = plan_with("FROM busybox AS build\nFROM busybox AS test\n", &o).unwrap_err();
    assert_eq!(
        err.errors().next().unwrap().message,
        "target stage \"biuld\" could not be found (did you mean build?)"
    );
}

#[test]
fn unknown_images_suggest_stage_names() {
    let got = errors("FROM busybox AS builder\nFROM scratch\nCOPY --from=buidler /a /a\n");
    assert_eq!(
        got,
        vec![(3, "buidler: not found (did you mean builder?)".to_owned())]
    );
}

#[test]
fn bad_mount_options_are_reported_at_the_run() {
    assert_eq!(
        errors("FROM busybox\nRUN --mount=type=cache,target=/c,sharing=everybody true\n"),
        vec![(2, "unsupported sharing value \"everybody\"".to_owned())]
    );
    assert_eq!(
        errors("FROM busybox\nARG T=bind\nRUN --mount=type=$T,target=/x,mode=0755 true\n"),
        vec![(3, "mode not allowed for \"bind\" type mounts".to_owned())]
    );
}

#[test]
fn errors_in_several_stages_are_all_reported() {
    let got = errors(
        "FROM busybox AS a\nRUN --mount=type=nope true\nFROM busybox\nCOPY --from=a --chmod=9 x y\nSTOPSIGNAL SIGNOPE\n",
    );
    assert_eq!(
        got,
        vec![
            (2, "unsupported mount type \"nope\"".to_owned()),
            (
                4,
                "invalid chmod parameter: '9'. it should be octal string and between 0 and 07777"
                    .to_owned()
            ),
        ]
    );
}

#[test]
fn onbuild_triggers_of_the_base_image_run_first() {
    let p = plan("FROM onbuild\nRUN echo own\n");
    let runs: Vec<_> = execs(&p).iter().map(|n| exec_args(n)[2].clone()).collect();
    assert_eq!(runs, vec!["echo triggered", "echo own"]);
    assert!(
        p.image.config.on_build.is_empty(),
        "triggers do not carry over"
    );
    assert_eq!(p.stages[0].steps[1], "[2/4] ONBUILD RUN echo triggered");
}

#[test]
fn base_image_user_and_workdir_apply() {
    let p = plan("FROM withuser\nWORKDIR sub\nRUN pwd\n");
    let Op::Exec(exec) = &execs(&p)[0].op else {
        unreachable!()
    };
    assert_eq!(exec.meta.user, "app");
    assert_eq!(exec.meta.cwd, "/home/app/sub");
    let mkdir = p
        .definition
        .nodes_in_order()
        .find_map(|(_, n)| match &n.op {
            Op::File(f) => match &f.actions[0] {
                FileAction::Mkdir(m) => Some(m.clone()),
                _ => None,
            },
            _ => None,
        })
        .unwrap();
    assert_eq!(mkdir.path, "/home/app/sub");
    assert_eq!(
        mkdir.owner,
        Some(hearth_graph::op::Chown {
            user: Some(hearth_graph::op::UserRef::Name("app".into())),
            group: None
        })
    );
}

#[test]
fn no_cache_filter_marks_only_named_stages() {
    let mut o = options();
    o.no_cache = NoCache::Stages(vec!["deps".into()]);
    let p = plan_with(
        "FROM busybox AS deps\nRUN echo deps\nFROM deps\nRUN echo app\n",
        &o,
    )
    .unwrap();
    let flags: Vec<_> = p
        .definition
        .nodes_in_order()
        .filter(|(_, n)| matches!(n.op, Op::Exec(_)))
        .map(|(d, _)| p.definition.metadata(d).unwrap().ignore_cache)
        .collect();
    assert_eq!(flags, vec![true, false]);
}

#[test]
fn context_source_reads_only_what_copies_select() {
    let mut o = options();
    o.dockerignore = vec!["*.log".into(), "!keep.log".into()];
    let p = plan_with("FROM busybox\nCOPY src/ /app/\nADD pkg.tar.gz http://example.com/x.tgz /opt/\nRUN --mount=type=bind,source=cfg,target=/cfg true\n", &o).unwrap();
    let local = p
        .definition
        .nodes_in_order()
        .find_map(|(_, n)| match &n.op {
            Op::Source(SourceOp::Local(l)) => Some(l.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(local.follow_paths, vec!["cfg", "pkg.tar.gz", "src"]);
    assert_eq!(local.exclude_patterns, vec!["*.log", "!keep.log"]);
}

#[test]
fn graph_dump_of_a_multistage_build() {
    let p = plan(concat!(
        "FROM busybox AS build\n",
        "WORKDIR /src\n",
        "COPY main.c .\n",
        "RUN cc -o app main.c\n",
        "FROM scratch\n",
        "COPY --from=build /src/app /app\n",
        "ENTRYPOINT [\"/app\"]\n",
    ));
    expect![[r#"
        n1 3bf858d465ab source image docker.io/library/busybox:latest@sha256:de68ccc327e508f44a3a150fc877a442581bb03dd53e24b418fbc425ece79d52 [linux/amd64]
            name: [build 1/4] FROM docker.io/library/busybox:latest@sha256:de68ccc327e508f44a3a150fc877a442581bb03dd53e24b418fbc425ece79d52
        n2 0f2d7ff36413 file
            name: [build 2/4] WORKDIR /src
            base: n1.0
            mkdir /src mode=755 parents=true
        n3 9a4d3a55c974 source local context
            name: [internal] load build context
            follow: ["main.c"]
        n4 8197bafd1edc file
            name: [build 3/4] COPY main.c .
            base: n2.0
            copy n3.0:/main.c -> /src/ follow-symlinks contents-only create-dest wildcard empty-wildcard-ok
        n5 146aa2bdcbf2 exec ["/bin/sh", "-c", "cc -o app main.c"] [linux/amd64]
            name: [build 4/4] RUN cc -o app main.c
            env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
            cwd: /src
            mount / <- n4.0:/ bind output=0
        n6 0c21ba574623 file
            name: [stage-1 1/1] COPY --from=build /src/app /app
            base: scratch
            copy n5.0:/src/app -> /app follow-symlinks contents-only create-dest wildcard empty-wildcard-ok
        root: n6.0 0c21ba574623
    "#]]
    .assert_eq(&p.definition.dump());
    assert_eq!(p.image.config.entrypoint, vec!["/app"]);
    assert_eq!(p.image.config.working_dir, "/");
}

#[test]
fn named_contexts_replace_a_stage_or_a_base_as_buildx_build_context_does() {
    let text = "\
FROM busybox AS base
RUN echo never runs
FROM base
COPY --from=tools /tool /tool
COPY --from=onbuild:latest /x /x
";
    let mut options = options();
    options.named_contexts.insert(
        hearth_dockerfile::named_context_key("base").unwrap(),
        hearth_dockerfile::NamedContext::Local {
            name: "base".into(),
            excludes: vec!["*.log".into()],
        },
    );
    options.named_contexts.insert(
        hearth_dockerfile::named_context_key("tools").unwrap(),
        hearth_dockerfile::NamedContext::Image("withuser".into()),
    );
    // `onbuild:latest` and `onbuild` are the same key.
    options.named_contexts.insert(
        hearth_dockerfile::named_context_key("docker.io/library/onbuild").unwrap(),
        hearth_dockerfile::NamedContext::Image("busybox".into()),
    );
    let plan = plan_with(text, &options).unwrap_or_else(|d| panic!("unexpected errors: {d}"));
    let nodes: Vec<&Node> = plan.definition.nodes_in_order().map(|(_, n)| n).collect();
    let locals: Vec<(&str, &[String])> = nodes
        .iter()
        .filter_map(|n| match &n.op {
            Op::Source(SourceOp::Local(l)) => {
                Some((l.name.as_str(), l.exclude_patterns.as_slice()))
            }
            _ => None,
        })
        .collect();
    assert!(
        locals.contains(&("base", &["*.log".to_owned()][..])),
        "the replaced stage is the directory: {locals:?}"
    );
    let images: Vec<&str> = nodes
        .iter()
        .filter_map(|n| match &n.op {
            Op::Source(SourceOp::Image(i)) => Some(i.reference.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        images
            .iter()
            .any(|r| r.starts_with("docker.io/library/withuser:latest@")),
        "COPY --from=tools reads the named image: {images:?}"
    );
    assert!(
        images
            .iter()
            .all(|r| !r.starts_with("docker.io/library/onbuild")),
        "a base named by a context is replaced: {images:?}"
    );
    let dump = plan.definition.dump();
    assert!(
        !dump.contains("never runs"),
        "the replaced stage's steps never run:\n{dump}"
    );
    assert_eq!(
        hearth_dockerfile::named_context_key("docker.io/library/alpine:latest").as_deref(),
        Some("alpine")
    );
    assert_eq!(
        hearth_dockerfile::named_context_key("alpine:3").as_deref(),
        Some("alpine:3")
    );
}
