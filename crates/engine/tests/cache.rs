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
