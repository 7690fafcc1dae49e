#!/usr/bin/env bash
# The cold signer must link no networking, HTTP, SQL or RPC crate (ARCHITECTURE.md, dependency
# rule). Fails if `cargo tree` shows one in cold-signer's normal dependency graph.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(tokio|mio|hyper|hyper-util|h2|axum|tower|reqwest|ureq|jsonrpc|rusqlite|libsqlite3-sys|socket2|mona-node|mona-simnode|mona-ledger|prometheus|governor) '
tree=$(cargo tree --locked -p cold-signer -e normal --prefix none)
bad=$(printf '%s\n' "$tree" | grep -E "$forbidden" | sort -u || true)
if [ -n "$bad" ]; then
  echo "air-gap check FAILED: cold-signer links:" >&2
  printf '%s\n' "$bad" >&2
  exit 1
fi
echo "air-gap check: cold-signer links no network, HTTP, SQL or RPC crate ($(printf '%s\n' "$tree" | sort -u | wc -l) crates checked)"
