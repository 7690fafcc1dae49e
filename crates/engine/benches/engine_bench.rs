//! Engine benchmarks (placeholder until the sync bench lands).
fn main() {}
