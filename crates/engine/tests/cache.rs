//! The cache as users meet it: an unchanged rebuild runs nothing, and a changed file
//! re-runs exactly the steps that read it and the steps after them.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use support::{Env, build, request};

const MULTISTAGE: &str = "\
FROM busybox AS deps
COPY deps.txt /deps.txt
RUN cat /deps.txt > /deps.out

FROM busybox AS app
COPY app.txt /app.txt
RUN cat /app.txt > /app.out

FROM busybox
COPY --from=deps /deps.out /deps.out
COPY --from=app /app.out /app.out
RUN cat /deps.out /app.out > /all.out
CMD [\"cat\", \"/all.out\"]
";

fn graph_steps(names: &[String]) -> Vec<String> {
    let mut names = names.to_vec();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_rebuild_is_all_cached_and_starts_no_container() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[
            ("Dockerfile", MULTISTAGE),
            ("deps.txt", "d1\n"),
            ("app.txt", "a1\n"),
        ],
    );
    let engine = env.engine().await;

    let first = build(&engine, request(&ctx, Vec::new())).await;
    first.expect_ok();
    let execs_after_first = engine.host().exec_count();
    assert_eq!(
        execs_after_first,
        3,
        "three RUN steps ran: {:?}",
        first.ran()
    );
    assert!(
        first.cached().is_empty(),
        "a cold build has no cache hits: {:?}",
        first.cached()
    );

    let second = build(&engine, request(&ctx, Vec::new())).await;
    second.expect_ok();
    assert_eq!(
        engine.host().exec_count(),
        execs_after_first,
        "the rebuild started a container"
    );
    assert!(
        second.ran().is_empty(),
        "steps ran on a no-op rebuild: {:?}",
        second.ran()
    );
    assert_eq!(
        graph_steps(&second.cached()),
        graph_steps(&first.ran()),
        "every step of the first build is reported CACHED on the second"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_one_context_file_reruns_exactly_the_steps_that_depend_on_it() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[
            ("Dockerfile", MULTISTAGE),
            ("deps.txt", "d1\n"),
            ("app.txt", "a1\n"),
        ],
    );
    let engine = env.engine().await;
    build(&engine, request(&ctx, Vec::new())).await.expect_ok();
    let execs = engine.host().exec_count();

    std::fs::write(ctx.join("app.txt"), "a2\n").unwrap();
    let rebuilt = build(&engine, request(&ctx, Vec::new())).await;
    rebuilt.expect_ok();
    assert_eq!(
        graph_steps(&rebuilt.ran()),
        graph_steps(&[
            "[app 2/3] COPY app.txt /app.txt".to_owned(),
            "[app 3/3] RUN cat /app.txt > /app.out".to_owned(),
            "[stage-2 3/4] COPY --from=app /app.out /app.out".to_owned(),
            "[stage-2 4/4] RUN cat /deps.out /app.out > /all.out".to_owned(),
        ]),
        "only the app branch and what follows it re-run"
    );
    assert_eq!(
        engine.host().exec_count(),
        execs + 2,
        "two RUN steps re-ran"
    );
    for unchanged in [
        "[deps 2/3] COPY deps.txt /deps.txt",
        "[deps 3/3] RUN cat /deps.txt > /deps.out",
    ] {
        assert!(
            rebuilt.cached().iter().any(|n| n == unchanged),
            "{unchanged} should be cached: {:?}",
            rebuilt.cached()
        );
    }

    // An unrelated file in the context changes nothing.
    std::fs::write(ctx.join("unrelated.txt"), "x").unwrap();
    let again = build(&engine, request(&ctx, Vec::new())).await;
    again.expect_ok();
    assert!(
        again.ran().is_empty(),
        "an unread file re-ran steps: {:?}",
        again.ran()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_from_a_stage_are_keyed_by_what_they_copy_and_no_cache_filter_reruns_a_stage() {
    let env = Env::new();
    let dockerfile = "\
FROM busybox AS gen
COPY input.txt /input.txt
RUN cut -c1-3 /input.txt > /out.txt

FROM busybox AS stamp
RUN cat /proc/sys/kernel/random/uuid > /id

FROM busybox
COPY --from=gen /out.txt /out.txt
COPY --from=stamp /id /id
RUN cat /out.txt /id > /final
";
    let ctx = env.context(
        "ctx",
        &[("Dockerfile", dockerfile), ("input.txt", "abc1\n")],
    );
    let engine = env.engine().await;
    build(&engine, request(&ctx, Vec::new())).await.expect_ok();

    // The gen stage re-runs but makes the same /out.txt: what copies it stays cached.
    std::fs::write(ctx.join("input.txt"), "abc2\n").unwrap();
    let same_output = build(&engine, request(&ctx, Vec::new())).await;
    same_output.expect_ok();
    assert_eq!(
        graph_steps(&same_output.ran()),
        graph_steps(&[
            "[gen 2/3] COPY input.txt /input.txt".to_owned(),
            "[gen 3/3] RUN cut -c1-3 /input.txt > /out.txt".to_owned()
        ]),
    );

    // --no-cache-filter re-runs the named stage; its new output re-runs what copies it.
    let mut req = request(&ctx, Vec::new());
    req.options.no_cache = hearth_dockerfile::NoCache::Stages(vec!["stamp".into()]);
    let filtered = build(&engine, req).await;
    filtered.expect_ok();
    assert_eq!(
        graph_steps(&filtered.ran()),
        graph_steps(&[
            "[stamp 2/2] RUN cat /proc/sys/kernel/random/uuid > /id".to_owned(),
            "[stage-2 3/4] COPY --from=stamp /id /id".to_owned(),
            "[stage-2 4/4] RUN cat /out.txt /id > /final".to_owned(),
        ]),
    );
    assert!(
        filtered.cached().iter().any(|n| n.starts_with("[gen 3/3]")),
        "other stages stay cached"
    );
}
