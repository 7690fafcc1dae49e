//! node crate (work in progress).
