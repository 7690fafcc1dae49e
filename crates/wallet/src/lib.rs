//! wallet crate (work in progress).
