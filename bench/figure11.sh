#!/usr/bin/env bash
# bench/figure11.sh — figure 11: compute shares on one sim GPU (issue 15 item 4).
#
#   bench/figure11.sh [--build DIR] [--seconds S]
#
# Runs tests/e2e/compute_shares.sh (one rgpu-pool, one sim provider, tenants through
# `rgpu run --compute`) with S-second windows (default 8) and prints its figure: two greedy
# tenants at 0.5/0.5 (device time within +-10 % of each other), at 0.25/0.75 (ratio within
# +-10 % of 3), and a well-behaved tenant's sync p99 beside a greedy one against alone (<= 2x).
# Device time is the server's busy time per session (the usage receipts). Exit 0 when budgets
# are missed (a measurement); 1 when a run failed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../build SECS=8
while (($#)); do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "figure11.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
bash "$HERE/../tests/e2e/compute_shares.sh" --bin "$BUILD/bin" --shim-dir "$BUILD/lib/rgpu" \
  --tenant "$BUILD/tests/e2e/bin/share_tenant" --seconds "$SECS" | sed -n '/^figure 11/,$p' |
  grep -v '^compute_shares: ok'
