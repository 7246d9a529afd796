//! The Dockerfile frontend (work in progress).
pub mod diagnostic;
pub mod instructions;
pub mod shell;
pub mod syntax;
