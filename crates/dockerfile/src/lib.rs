//! The Dockerfile frontend.
