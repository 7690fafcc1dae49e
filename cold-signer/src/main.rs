//! cold-signer binary.
fn main() {}
