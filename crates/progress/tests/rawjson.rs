//! Golden tests of the rawjson format: BuildKit's `client.SolveStatus` JSON, one
//! object per line, with Go's field names, omissions, RFC 3339 nanosecond timestamps
//! and base64 log data.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use expect_test::expect;
use hearth_progress::{Mode, Summary};

#[test]
fn a_build_as_solve_status_lines() {
    let (mut r, clock, out) = renderer(Mode::RawJson);
    let load = r.internal("[internal] load build definition from Dockerfile");
    clock.at(25);
    r.finish_internal(load, Ok(()));
    let from = vertex("from");
    let run = vertex("run");
    let test = vertex("test");
    let script = [
        (50, cached(from, "[1/3] FROM docker.io/library/alpine:3.20")),
        (100, started(run, "[2/3] RUN echo hi > /out && make")),
        (150, status(run, "preparing rootfs")),
        (212, stdout(run, "hi\n")),
        (300, stderr(run, "warn")),
        (1_100, completed(run, 1_000)),
        (1_200, started(test, "[3/3] RUN make test")),
        (
            1_700,
            failed(
                test,
                "process \"/bin/sh -c make test\" did not complete successfully: exit code: 2",
                500,
            ),
        ),
    ];
    for (ms, event) in &script {
        clock.at(*ms);
        r.handle(event);
    }
    clock.at(1_800);
    r.finish(&Summary {
        duration: Duration::from_millis(1_800),
        steps: 3,
        cached: 1,
        failed: true,
    })
    .unwrap();
    expect![[r#"
        {"vertexes":[{"digest":"sha256:bfcae6cdf529617f7b5af15ef6fc09758fc7ec6d9137080c390c1602cbd4b3fb","name":"[internal] load build definition from Dockerfile","started":"2024-05-01T10:00:00Z"}]}
        {"vertexes":[{"digest":"sha256:bfcae6cdf529617f7b5af15ef6fc09758fc7ec6d9137080c390c1602cbd4b3fb","name":"[internal] load build definition from Dockerfile","started":"2024-05-01T10:00:00Z","completed":"2024-05-01T10:00:00.025Z"}]}
        {"vertexes":[{"digest":"sha256:75857a45899985be4c4d941e90b6b396d6c92a4c7437aaf0bf102089fe21379d","name":"[1/3] FROM docker.io/library/alpine:3.20","started":"2024-05-01T10:00:00.05Z","completed":"2024-05-01T10:00:00.05Z","cached":true}]}
        {"vertexes":[{"digest":"sha256:acba25512100f80b56fc3ccd14c65be55d94800cda77585c5f41a887e398f9be","name":"[2/3] RUN echo hi \u003e /out \u0026\u0026 make","started":"2024-05-01T10:00:00.1Z"}]}
        {"statuses":[{"id":"preparing rootfs","vertex":"sha256:acba25512100f80b56fc3ccd14c65be55d94800cda77585c5f41a887e398f9be","current":0,"timestamp":"2024-05-01T10:00:00.15Z","started":"2024-05-01T10:00:00.15Z","completed":"2024-05-01T10:00:00.15Z"}]}
        {"logs":[{"vertex":"sha256:acba25512100f80b56fc3ccd14c65be55d94800cda77585c5f41a887e398f9be","stream":1,"data":"aGkK","timestamp":"2024-05-01T10:00:00.212Z"}]}
        {"logs":[{"vertex":"sha256:acba25512100f80b56fc3ccd14c65be55d94800cda77585c5f41a887e398f9be","stream":2,"data":"d2Fybg==","timestamp":"2024-05-01T10:00:00.3Z"}]}
        {"vertexes":[{"digest":"sha256:acba25512100f80b56fc3ccd14c65be55d94800cda77585c5f41a887e398f9be","name":"[2/3] RUN echo hi \u003e /out \u0026\u0026 make","started":"2024-05-01T10:00:00.1Z","completed":"2024-05-01T10:00:01.1Z"}]}
        {"vertexes":[{"digest":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","name":"[3/3] RUN make test","started":"2024-05-01T10:00:01.2Z"}]}
        {"vertexes":[{"digest":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","name":"[3/3] RUN make test","started":"2024-05-01T10:00:01.2Z","completed":"2024-05-01T10:00:01.7Z","error":"process \"/bin/sh -c make test\" did not complete successfully: exit code: 2"}]}
    "#]].assert_eq(&out.text());
}

#[test]
fn every_line_is_json_with_decodable_log_data() {
    let (mut r, clock, out) = renderer(Mode::RawJson);
    let v = vertex("v");
    r.handle(&started(v, "[1/1] RUN printf"));
    clock.at(1);
    r.handle(&stdout(v, "bytes \u{2028} <&> \n"));
    for line in out.text().lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(log) = value.get("logs") {
            let data = log[0]["data"].as_str().unwrap();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap();
            assert_eq!(decoded, "bytes \u{2028} <&> \n".as_bytes());
            assert_eq!(log[0]["stream"], 1);
            assert_eq!(log[0]["timestamp"], "2024-05-01T10:00:00.001Z");
            assert_eq!(log[0]["vertex"], v.to_string());
        }
    }
}

#[test]
fn vertices_running_at_the_end_are_reported_canceled() {
    let (mut r, clock, out) = renderer(Mode::RawJson);
    let v = vertex("v");
    r.handle(&started(v, "[1/1] RUN sleep 100"));
    clock.at(2_000);
    r.finish(&Summary {
        duration: Duration::from_secs(2),
        steps: 1,
        cached: 0,
        failed: true,
    })
    .unwrap();
    let last = out.text().lines().last().unwrap().to_owned();
    let value: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(value["vertexes"][0]["error"], "context canceled");
    assert_eq!(value["vertexes"][0]["completed"], "2024-05-01T10:00:02Z");
}
