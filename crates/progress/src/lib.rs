//! Progress display for hearth builds: turns the solver's [`hearth_solver::Event`]s
//! into what docker/buildx users know from `--progress=plain|tty|rawjson|auto`.
//!
//! - `plain`: BuildKit's `#N` text format, for logs and CI.
//! - `tty`: a live view redrawn in place, with the last output lines of running steps.
//! - `rawjson`: BuildKit's `SolveStatus` JSON, one object per line, for programs.
//! - `auto`: `tty` when stderr is a terminal, `plain` otherwise.
//!
//! A [`Renderer`] writes to any `Write` it is given and never prints by itself. Feed it
//! events with [`Renderer::handle`] (or run [`drain`] on the solver's channel), then
//! call [`Renderer::finish`] with a [`Summary`] for the error summary and closing line.
//!
//! Module map: `state` (vertices, lines, kept output), `plain`, `tty`, `rawjson`,
//! `summary` (error summary, closing line), `mode`, `clock`, `renderer`.

mod clock;
mod mode;
mod plain;
mod rawjson;
mod renderer;
mod state;
mod summary;
mod tty;

pub use clock::{Clock, SystemClock};
pub use mode::{Mode, ParseModeError};
pub use renderer::{InternalStep, Renderer, drain};
pub use summary::Summary;
