//! mona crate (work in progress).
