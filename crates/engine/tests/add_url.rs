//! `ADD <url>` downloads through a real HTTP server (Python's `http.server`): verified
//! against `--checksum`, re-fetched on every build, and re-run only when the content
//! changed.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hearth_engine::{Export, ExportKind, ImageFormat};
use support::{Env, build, request};

struct HttpServer(Child, u16);

impl HttpServer {
    fn serve(dir: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("the test needs python3 for its HTTP server: {e}"));
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self(child, port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("python3 -m http.server did not start");
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_url_is_verified_refetched_and_keyed_by_content() {
    let env = Env::new();
    let served = env.context("served", &[("tool.txt", "version 1\n")]);
    let server = HttpServer::serve(&served);
    let url = format!("http://127.0.0.1:{}/tool.txt", server.1);
    let sha = |s: &str| hearth_core::Digest::of(s.as_bytes());
    let dockerfile = |checksum: Option<hearth_core::Digest>| {
        let flag = checksum
            .map(|c| format!("--checksum={c} "))
            .unwrap_or_default();
        format!(
            "FROM busybox\nADD {flag}{url} /opt/tool.txt\nRUN cat /opt/tool.txt > /opt/copy.txt\n"
        )
    };
    let out = env.work.path().join("out");
    let local = || {
        vec![Export {
            kind: ExportKind::Local { dest: out.clone() },
            names: Vec::new(),
            format: ImageFormat::default(),
            push: false,
        }]
    };
    let engine = env.engine().await;

    let ctx = env.context(
        "ctx",
        &[("Dockerfile", &dockerfile(Some(sha("version 1\n"))))],
    );
    build(&engine, request(&ctx, local())).await.expect_ok();
    assert_eq!(
        std::fs::read_to_string(out.join("opt/copy.txt")).unwrap(),
        "version 1\n"
    );
    let meta = std::fs::metadata(out.join("opt/tool.txt")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600,
        "downloads are 0600"
    );

    // Same content again: downloaded, but nothing after it re-runs.
    let execs = engine.host().exec_count();
    let again = build(&engine, request(&ctx, local())).await;
    again.expect_ok();
    assert_eq!(
        engine.host().exec_count(),
        execs,
        "unchanged download re-ran the RUN"
    );

    // New content on the server is picked up without any change to the Dockerfile.
    std::fs::write(served.join("tool.txt"), "version 2\n").unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile(None)).unwrap();
    build(&engine, request(&ctx, local())).await.expect_ok();
    assert_eq!(
        std::fs::read_to_string(out.join("opt/copy.txt")).unwrap(),
        "version 2\n"
    );

    // A checksum that does not match fails the step and says so.
    std::fs::write(ctx.join("Dockerfile"), dockerfile(Some(sha("version 1\n")))).unwrap();
    let failed = build(&engine, request(&ctx, local())).await;
    let Err(error) = failed.outcome else {
        panic!("a checksum mismatch must fail the build");
    };
    let message = error.to_string();
    assert!(message.contains("checksum mismatch"), "{message}");
    drop(server);
}
