//! `ADD <url>` downloads through a real HTTP server (Python's `http.server`): verified
//! against `--checksum`, re-fetched on every build, and re-run only when the content
//! changed. Servers that never finish (an endless body, a body that stops, a drip, a
//! size announced too large, a listener that never accepts) fail the step with the limit
//! they ran into, and leave nothing behind in the store.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hearth_engine::{DownloadLimits, Engine, Export, ExportKind, ImageFormat};
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

/// A loopback HTTP server answering every request with `respond(path, connection)`, one
/// thread per connection; each thread ends when the client hangs up.
fn raw_server(respond: fn(&str, TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for connection in listener.incoming() {
            let Ok(mut connection) = connection else {
                return;
            };
            std::thread::spawn(move || {
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") {
                    match connection.read(&mut byte) {
                        Ok(1) => request.push(byte[0]),
                        _ => return,
                    }
                }
                let request = String::from_utf8_lossy(&request).into_owned();
                let path = request.split(' ').nth(1).unwrap_or_default().to_owned();
                respond(&path, connection);
            });
        }
    });
    port
}

/// What the misbehaving server sends for each path.
fn misbehave(path: &str, mut connection: TcpStream) {
    let block = vec![b'x'; 64 << 10];
    let head = |c: &mut TcpStream, extra: &str| {
        c.write_all(
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n{extra}\r\n")
                .as_bytes(),
        )
    };
    match path {
        // Never ends: a body without a length, as fast as the client reads.
        "/endless" => {
            let _ = head(&mut connection, "");
            while connection.write_all(&block).is_ok() {}
        }
        // Says up front that it is too large.
        "/huge" => {
            let _ = head(
                &mut connection,
                &format!("Content-Length: {}\r\n", 1u64 << 40),
            );
            while connection.write_all(&block).is_ok() {}
        }
        // Sends a little, then nothing, holding the connection open.
        "/stall" => {
            let _ = head(&mut connection, "");
            let _ = connection.write_all(&block[..100]);
            let mut sink = [0u8; 1];
            let _ = connection.read(&mut sink);
        }
        // A byte at a time, often enough never to stall, never ending.
        "/drip" => {
            let _ = head(&mut connection, "");
            while connection.write_all(b"x").is_ok() {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        _ => {
            let _ = connection.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
    }
}

/// A loopback port whose listener never accepts and whose queue is full, so a connection
/// attempt gets no answer (the kernel drops the SYN). The listener must stay alive.
fn unanswered_port() -> (TcpListener, Vec<TcpStream>, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut queued = Vec::new();
    for _ in 0..4096 {
        match TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(200),
        ) {
            Ok(stream) => queued.push(stream),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return (listener, queued, port);
            }
            Err(e) => panic!("filling the listen queue: {e}"),
        }
    }
    panic!("the listen queue of port {port} never filled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_url_stops_at_each_limit_and_names_it() {
    let env = Env::new();
    let port = raw_server(misbehave);
    let (_listener, _queued, silent_port) = unanswered_port();
    let mut options = env.options(env.root.path());
    options.downloads = DownloadLimits {
        connect_timeout: Duration::from_secs(1),
        stall_timeout: Duration::from_secs(2),
        deadline: Duration::from_secs(6),
        max_size: 4 << 20,
    };
    let engine = Engine::open(options).await.unwrap();

    let cases = [
        (
            format!("http://127.0.0.1:{port}/endless"),
            "the body is larger than the 4 MiB a download may have",
        ),
        (
            format!("http://127.0.0.1:{port}/huge"),
            "the server announces 1024 GiB, more than the 4 MiB a download may have",
        ),
        (
            format!("http://127.0.0.1:{port}/stall"),
            "the server sent nothing for 2s (the stall timeout)",
        ),
        (
            format!("http://127.0.0.1:{port}/drip"),
            "not complete after 6s (the download deadline)",
        ),
        (
            format!("http://127.0.0.1:{silent_port}/file"),
            "could not connect within 1s (the connect timeout)",
        ),
        (
            format!("http://127.0.0.1:{port}/.."),
            "the URL does not end in a file name (it gives \"..\")",
        ),
    ];
    for (i, (url, expected)) in cases.iter().enumerate() {
        let ctx = env.context(
            &format!("ctx{i}"),
            &[("Dockerfile", &format!("FROM scratch\nADD {url} /file\n"))],
        );
        let report = build(&engine, request(&ctx, Vec::new())).await;
        let Err(error) = report.outcome else {
            panic!("ADD {url} must fail");
        };
        let message = error.to_string();
        assert!(
            message.contains(&format!("downloading {url}: {expected}")),
            "ADD {url}: {message}"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(engine.store().tmp_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("layer-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "failed downloads left layers: {leftovers:?}"
    );
}
