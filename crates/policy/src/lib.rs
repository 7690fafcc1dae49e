//! policy crate (work in progress).
