//! keystore crate (work in progress).
