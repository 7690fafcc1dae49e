//! airgap crate (work in progress).
