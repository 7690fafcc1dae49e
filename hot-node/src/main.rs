//! hot-node binary.
fn main() {}
