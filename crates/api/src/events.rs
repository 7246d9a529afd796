//! Progress events between the solver's form and the wire's.

use std::time::Duration;

use hearth_core::Digest;
use hearth_solver::{Event, LogStream};

use crate::v1::{self, event::Kind};

/// The wire form of `event`.
pub fn event_to_wire(event: &Event) -> v1::Event {
    let (vertex, kind) = match event {
        Event::Started { vertex, name } => {
            (vertex, Kind::Started(v1::Started { name: name.clone() }))
        }
        Event::Cached { vertex, name } => (vertex, Kind::Cached(v1::Cached { name: name.clone() })),
        Event::Log {
            vertex,
            stream,
            data,
        } => (
            vertex,
            Kind::Log(v1::Log {
                stream: match stream {
                    LogStream::Stdout => 1,
                    LogStream::Stderr => 2,
                },
                data: data.clone(),
            }),
        ),
        Event::Status { vertex, message } => (
            vertex,
            Kind::Status(v1::Status {
                message: message.clone(),
            }),
        ),
        Event::Completed { vertex, duration } => (
            vertex,
            Kind::Completed(v1::Completed {
                duration_ns: nanos(*duration),
            }),
        ),
        Event::Failed {
            vertex,
            message,
            duration,
        } => (
            vertex,
            Kind::Failed(v1::Failed {
                message: message.clone(),
                duration_ns: nanos(*duration),
            }),
        ),
    };
    v1::Event {
        vertex: vertex.to_string(),
        kind: Some(kind),
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The solver form of a wire event; `None` for one this version does not know.
pub fn event_from_wire(event: &v1::Event) -> Option<Event> {
    let vertex: Digest = event.vertex.parse().ok()?;
    Some(match event.kind.as_ref()? {
        Kind::Started(s) => Event::Started {
            vertex,
            name: s.name.clone(),
        },
        Kind::Cached(c) => Event::Cached {
            vertex,
            name: c.name.clone(),
        },
        Kind::Log(l) => Event::Log {
            vertex,
            stream: if l.stream == 1 {
                LogStream::Stdout
            } else {
                LogStream::Stderr
            },
            data: l.data.clone(),
        },
        Kind::Status(s) => Event::Status {
            vertex,
            message: s.message.clone(),
        },
        Kind::Completed(c) => Event::Completed {
            vertex,
            duration: Duration::from_nanos(c.duration_ns),
        },
        Kind::Failed(f) => Event::Failed {
            vertex,
            message: f.message.clone(),
            duration: Duration::from_nanos(f.duration_ns),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_survives_the_wire() {
        let vertex = Digest::of(b"step");
        let events = vec![
            Event::Started {
                vertex,
                name: "[1/2] RUN x".into(),
            },
            Event::Cached {
                vertex,
                name: "[2/2] COPY".into(),
            },
            Event::Log {
                vertex,
                stream: LogStream::Stderr,
                data: b"oops\n".to_vec(),
            },
            Event::Status {
                vertex,
                message: "pushing layers".into(),
            },
            Event::Completed {
                vertex,
                duration: Duration::from_millis(1500),
            },
            Event::Failed {
                vertex,
                message: "exit code 1".into(),
                duration: Duration::from_nanos(7),
            },
        ];
        for event in events {
            assert_eq!(event_from_wire(&event_to_wire(&event)), Some(event));
        }
        assert_eq!(event_from_wire(&v1::Event::default()), None);
    }
}
