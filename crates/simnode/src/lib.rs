//! simnode crate (work in progress).
