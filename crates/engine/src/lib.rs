//! The hot node engine (work in progress).
