//! Golden tests of the plain format against BuildKit's line shapes: `#N name`,
//! `#N 0.123 output`, status lines, `#N CACHED`, `#N DONE 0.4s`, `#N ERROR: …`,
//! `#N ...` when another vertex takes over, blank lines between groups, the
//! `------` error summary and the closing line.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use expect_test::expect;
use hearth_progress::{Mode, Renderer, Summary};
use hearth_solver::Event;

fn play(r: &mut Renderer, clock: &ManualClock, script: &[(u64, Event)]) {
    for (ms, event) in script {
        clock.at(*ms);
        r.handle(event);
    }
}

fn summary(ms: u64, steps: usize, cached: usize, failed: bool) -> Summary {
    Summary {
        duration: Duration::from_millis(ms),
        steps,
        cached,
        failed,
    }
}

#[test]
fn sequential_build_with_internal_cached_and_run_steps() {
    let (mut r, clock, out) = renderer(Mode::Plain);
    let load = r.internal("[internal] load build definition from Dockerfile");
    clock.at(10);
    r.handle(&status(load.vertex(), "transferring dockerfile: 123B done"));
    clock.at(30);
    r.finish_internal(load, Ok(()));
    let from = vertex("from");
    let run = vertex("run");
    let copy = vertex("copy");
    play(
        &mut r,
        &clock,
        &[
            (50, cached(from, "[1/3] FROM docker.io/library/alpine:3.20")),
            (100, started(run, "[2/3] RUN make")),
            (212, stdout(run, "cc -c main.c\n")),
            (1_330, stdout(run, "cc -o app main.o\n")),
            (1_500, completed(run, 1_400)),
            (1_520, started(copy, "[3/3] COPY app /usr/bin/app")),
            (1_560, completed(copy, 40)),
        ],
    );
    clock.at(1_600);
    r.finish(&summary(1_600, 3, 1, false)).unwrap();
    expect![[r#"
        #1 [internal] load build definition from Dockerfile
        #1 transferring dockerfile: 123B done
        #1 DONE 0.0s

        #2 [1/3] FROM docker.io/library/alpine:3.20
        #2 CACHED

        #3 [2/3] RUN make
        #3 0.112 cc -c main.c
        #3 1.230 cc -o app main.o
        #3 DONE 1.4s

        #4 [3/3] COPY app /usr/bin/app
        #4 DONE 0.0s

        built in 1.6s: 3 steps, 1 cached
    "#]]
    .assert_eq(&out.text());
}

#[test]
fn parallel_vertices_hold_back_output_until_the_current_one_ends() {
    let (mut r, clock, out) = renderer(Mode::Plain);
    let from = vertex("from");
    let make = vertex("make");
    let test = vertex("test");
    let copy = vertex("copy");
    play(
        &mut r,
        &clock,
        &[
            (
                0,
                cached(from, "[base 1/1] FROM docker.io/library/golang:1.23"),
            ),
            (100, started(make, "[build 2/3] RUN make")),
            (150, started(test, "[test 2/2] RUN go test ./...")),
            (300, stdout(make, "cc -c main.c\n")),
            (400, stdout(test, "ok  \tpkg/a\t0.01s\n")),
            (900, stdout(make, "cc -o app main.o\n")),
            // make ends: its group closes, and the test step, held back so far, gets
            // the screen with the output it produced meanwhile.
            (1_100, completed(make, 1_000)),
            (1_200, stdout(test, "ok  \tpkg/b\t0.02s\n")),
            // copy starts and ends while test has the screen: test's group is
            // interrupted (`#3 ...`) and its header printed again afterwards.
            (1_250, started(copy, "[build 3/3] COPY app /usr/bin/app")),
            (1_300, completed(copy, 50)),
            (1_500, stdout(test, "PASS\n")),
            (1_650, completed(test, 1_500)),
        ],
    );
    clock.at(1_700);
    r.finish(&summary(1_700, 4, 1, false)).unwrap();
    expect![[r#"
        #1 [base 1/1] FROM docker.io/library/golang:1.23
        #1 CACHED

        #2 [build 2/3] RUN make
        #2 0.200 cc -c main.c
        #2 0.800 cc -o app main.o
        #2 DONE 1.0s

        #3 [test 2/2] RUN go test ./...
        #3 0.250 ok  	pkg/a	0.01s
        #3 1.050 ok  	pkg/b	0.02s
        #3 ...

        #4 [build 3/3] COPY app /usr/bin/app
        #4 DONE 0.1s

        #3 [test 2/2] RUN go test ./...
        #3 1.350 PASS
        #3 DONE 1.5s

        built in 1.7s: 4 steps, 1 cached
    "#]]
    .assert_eq(&out.text());
}

#[test]
fn the_current_vertex_yields_after_the_anti_flicker_period() {
    let (mut r, clock, out) = renderer(Mode::Plain);
    let a = vertex("a");
    let b = vertex("b");
    play(
        &mut r,
        &clock,
        &[
            (0, started(a, "[a 1/1] RUN ./slow-build")),
            (150, started(b, "[b 1/1] RUN ./chatty-test")),
            (200, stdout(b, "test 1 ok\n")),
        ],
    );
    // a is silent; after 6 s it still keeps the screen (its share of the traffic
    // buys it 7.5 s), after 8 s b's held-back output is shown.
    clock.at(6_000);
    r.tick();
    let before = out.text();
    clock.at(8_000);
    r.tick();
    // a prints again: b has had the screen longer than its (zero) share allows.
    play(
        &mut r,
        &clock,
        &[
            (8_500, stdout(a, "step 2 of 3\n")),
            (9_000, completed(a, 9_000)),
            (9_500, stdout(b, "test 2 ok\n")),
            (9_600, completed(b, 9_450)),
        ],
    );
    clock.at(9_700);
    r.finish(&summary(9_700, 2, 0, false)).unwrap();
    expect![[r#"
        #1 [a 1/1] RUN ./slow-build
    "#]]
    .assert_eq(&before);
    expect![[r#"
        #1 [a 1/1] RUN ./slow-build
        #1 ...

        #2 [b 1/1] RUN ./chatty-test
        #2 0.050 test 1 ok
        #2 ...

        #1 [a 1/1] RUN ./slow-build
        #1 8.500 step 2 of 3
        #1 DONE 9.0s

        #2 [b 1/1] RUN ./chatty-test
        #2 9.350 test 2 ok
        #2 DONE 9.4s

        built in 9.7s: 2 steps, 0 cached
    "#]]
    .assert_eq(&out.text());
}

#[test]
fn output_held_back_too_long_is_shown_anyway() {
    let (mut r, clock, out) = renderer(Mode::Plain);
    let a = vertex("a");
    let b = vertex("b");
    play(
        &mut r,
        &clock,
        &[(0, started(a, "A")), (100, started(b, "B"))],
    );
    // a stays busy, so the fair split keeps it current; b's output waits at most 10 s.
    for i in 1..=24 {
        clock.at(i * 500);
        r.handle(&stdout(a, &format!("a{i}\n")));
        if i == 2 {
            r.handle(&stdout(b, "b1\n"));
        }
    }
    expect![[r#"
        #1 A
        #1 0.500 a1
        #1 1.000 a2
        #1 1.500 a3
        #1 2.000 a4
        #1 2.500 a5
        #1 3.000 a6
        #1 3.500 a7
        #1 4.000 a8
        #1 4.500 a9
        #1 5.000 a10
        #1 5.500 a11
        #1 6.000 a12
        #1 6.500 a13
        #1 7.000 a14
        #1 7.500 a15
        #1 8.000 a16
        #1 8.500 a17
        #1 9.000 a18
        #1 9.500 a19
        #1 10.00 a20
        #1 10.50 a21
        #1 ...

        #2 B
        #2 0.900 b1
        #2 ...

        #1 A
        #1 11.00 a22
        #1 11.50 a23
        #1 12.00 a24
    "#]]
    .assert_eq(&out.text());
}

#[test]
fn failing_vertex_with_multi_line_output_and_a_partial_last_line() {
    let (mut r, clock, out) = renderer(Mode::Plain);
    let from = vertex("from");
    let build = vertex("build");
    let lint = vertex("lint");
    let msg =
        "process \"/bin/sh -c ./configure && make\" did not complete successfully: exit code: 2";
    play(
        &mut r,
        &clock,
        &[
            (0, cached(from, "[1/3] FROM docker.io/library/gcc:14")),
            (50, started(build, "[2/3] RUN ./configure && make")),
            (60, started(lint, "[3/3] RUN make lint")),
            (
                250,
                stdout(
                    build,
                    "checking for gcc... gcc\nchecking whether the C compiler works... ",
                ),
            ),
            (550, stdout(build, "yes\n")),
            (700, stdout(lint, "lint: ok\n")),
            (
                1_050,
                stderr(
                    build,
                    "main.c:3:1: error: expected ';'\nmake: *** [Makefile:3: all] Error 1\nmake: leaving directory '/src",
                ),
            ),
            (1_250, failed(build, msg, 1_200)),
            // The solver cancels the rest; the executor reports "cancelled".
            (1_300, failed(lint, "run: cancelled", 1_240)),
        ],
    );
    clock.at(1_300);
    r.finish(&summary(1_300, 3, 1, true)).unwrap();
    expect![[r##"
        #1 [1/3] FROM docker.io/library/gcc:14
        #1 CACHED

        #2 [2/3] RUN ./configure && make
        #2 0.200 checking for gcc... gcc
        #2 0.200 checking whether the C compiler works... yes
        #2 1.000 main.c:3:1: error: expected ';'
        #2 1.000 make: *** [Makefile:3: all] Error 1
        #2 1.000 make: leaving directory '/src
        #2 ERROR: process "/bin/sh -c ./configure && make" did not complete successfully: exit code: 2

        #3 [3/3] RUN make lint
        #3 0.640 lint: ok
        #3 CANCELED
        ------
         > [2/3] RUN ./configure && make:
        0.200 checking for gcc... gcc
        0.200 checking whether the C compiler works... yes
        1.000 main.c:3:1: error: expected ';'
        1.000 make: *** [Makefile:3: all] Error 1
        1.000 make: leaving directory '/src
        ------

        failed after 1.3s: 1 of 3 steps done, 1 cached
    "##]].assert_eq(&out.text());
    assert_eq!(
        r.failure_log(&build),
        [
            "checking for gcc... gcc",
            "checking whether the C compiler works... yes",
            "main.c:3:1: error: expected ';'",
            "make: *** [Makefile:3: all] Error 1",
            "make: leaving directory '/src",
        ]
    );
    assert!(r.failure_log(&lint).is_empty());
    assert!(r.failure_log(&from).is_empty());
}

#[test]
fn status_lines_of_an_image_pull() {
    let (mut r, clock, out) = renderer(Mode::Plain);
    let meta = r.internal("[internal] load metadata for docker.io/library/alpine:3.20");
    clock.at(420);
    r.finish_internal(meta, Ok(()));
    let pull = vertex("pull");
    let layer = "sha256:1f3e46996e2966e4faa5846e56e76e3748b7315e2ded61476c24403d592134f0";
    play(
        &mut r,
        &clock,
        &[
            (
                450,
                started(
                    pull,
                    "[1/1] FROM docker.io/library/alpine:3.20@sha256:beefdbd8a1da6d2915566fde36db9db0b524eb737fc57cd1367effd16dc0d06d",
                ),
            ),
            (
                460,
                status(
                    pull,
                    "resolve docker.io/library/alpine:3.20@sha256:beefdbd8a1da6d2915566fde36db9db0b524eb737fc57cd1367effd16dc0d06d 0.0s done",
                ),
            ),
            (
                700,
                status(pull, &format!("{layer} 3.62MB / 3.62MB 0.2s done")),
            ),
            (750, status(pull, &format!("extracting {layer}"))),
            (850, status(pull, &format!("extracting {layer} 0.1s done"))),
            (860, completed(pull, 410)),
        ],
    );
    clock.at(900);
    r.finish(&summary(900, 1, 0, false)).unwrap();
    expect![[r#"
        #1 [internal] load metadata for docker.io/library/alpine:3.20
        #1 DONE 0.4s

        #2 [1/1] FROM docker.io/library/alpine:3.20@sha256:beefdbd8a1da6d2915566fde36db9db0b524eb737fc57cd1367effd16dc0d06d
        #2 resolve docker.io/library/alpine:3.20@sha256:beefdbd8a1da6d2915566fde36db9db0b524eb737fc57cd1367effd16dc0d06d 0.0s done
        #2 sha256:1f3e46996e2966e4faa5846e56e76e3748b7315e2ded61476c24403d592134f0 3.62MB / 3.62MB 0.2s done
        #2 extracting sha256:1f3e46996e2966e4faa5846e56e76e3748b7315e2ded61476c24403d592134f0
        #2 extracting sha256:1f3e46996e2966e4faa5846e56e76e3748b7315e2ded61476c24403d592134f0 0.1s done
        #2 DONE 0.4s

        built in 0.9s: 1 step, 0 cached
    "#]].assert_eq(&out.text());
}

#[test]
fn vertices_still_running_at_the_end_are_canceled_and_their_partial_line_flushed() {
    let (mut r, clock, out) = renderer(Mode::Plain);
    let a = vertex("a");
    play(
        &mut r,
        &clock,
        &[
            (0, started(a, "[1/1] RUN sleep 100")),
            (100, stdout(a, "zzz")),
        ],
    );
    clock.at(2_000);
    r.finish(&summary(2_000, 1, 0, true)).unwrap();
    expect![[r#"
        #1 [1/1] RUN sleep 100
        #1 0.100 zzz
        #1 CANCELED

        failed after 2.0s: 0 of 1 step done, 0 cached
    "#]]
    .assert_eq(&out.text());
}

#[test]
fn failure_log_keeps_the_last_fifty_lines() {
    let (mut r, clock, _out) = renderer(Mode::Plain);
    let a = vertex("a");
    r.handle(&started(a, "[1/1] RUN ./noisy"));
    for i in 0..500 {
        clock.at(i);
        r.handle(&stdout(a, &format!("line {i}\n")));
    }
    r.handle(&failed(a, "exit code: 1", 500));
    let log = r.failure_log(&a);
    assert_eq!(log.len(), 50);
    assert_eq!(log.first().map(String::as_str), Some("line 450"));
    assert_eq!(log.last().map(String::as_str), Some("line 499"));
}

#[test]
fn events_after_finish_are_ignored() {
    let (mut r, _clock, out) = renderer(Mode::Plain);
    r.finish(&summary(0, 0, 0, false)).unwrap();
    r.handle(&started(vertex("late"), "late"));
    assert_eq!(out.text(), "built in 0.0s: 0 steps, 0 cached\n");
}

#[test]
fn held_back_output_beyond_64_kib_is_shown_at_once() {
    let (mut r, clock, out) = renderer(Mode::Plain);
    let a = vertex("a");
    let b = vertex("b");
    play(
        &mut r,
        &clock,
        &[(0, started(a, "A")), (100, started(b, "B"))],
    );
    // Each line is 1029 bytes with its offset: the 64th goes over 64 KiB.
    let chunk = format!("{}\n", "x".repeat(1023));
    for i in 0..63 {
        clock.at(200 + i);
        r.handle(&stdout(b, &chunk));
    }
    assert!(!out.text().contains(&chunk));
    clock.at(300);
    r.handle(&stdout(b, &chunk));
    let text = out.text();
    assert!(text.contains("#1 ...\n\n#2 B\n"), "{text}");
    assert_eq!(text.matches(&chunk).count(), 64, "{text}");
}
