//! `drain` feeds a channel into a renderer until the channel closes.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use hearth_progress::{Mode, Summary, drain};

#[tokio::test]
async fn drain_renders_every_event_until_the_channel_closes() {
    let (r, clock, out) = renderer(Mode::Plain);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(drain(rx, r));
    let v = vertex("v");
    tx.send(started(v, "[1/1] RUN true")).unwrap();
    tx.send(stdout(v, "ok\n")).unwrap();
    clock.at(300);
    tx.send(completed(v, 300)).unwrap();
    drop(tx);
    let mut r = task.await.unwrap();
    r.finish(&Summary {
        duration: Duration::from_millis(300),
        steps: 1,
        cached: 0,
        failed: false,
    })
    .unwrap();
    let text = out.text();
    assert!(text.starts_with("#1 [1/1] RUN true\n#1 "), "{text}");
    assert!(
        text.ends_with(" ok\n#1 DONE 0.3s\n\nbuilt in 0.3s: 1 step, 0 cached\n"),
        "{text}"
    );
}
