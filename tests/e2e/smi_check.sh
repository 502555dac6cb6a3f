#!/usr/bin/env bash
# tests/e2e/smi_check.sh RGPU — `rgpu smi` and `rgpu smi --json` against the servers run_e2e.sh
# started (RGPU_SERVER): one row per server, the names and memory the servers report, and the
# unserved utilization as n/a / null. Prints "PASS smi".
set -u
rgpu="$1"
export RGPU_SHIM_DIR="${LD_LIBRARY_PATH%%:*}"
table=$("$rgpu" smi) || { echo "FAIL: rgpu smi exited $?"; exit 1; }
echo "$table"
json=$("$rgpu" smi --json) || { echo "FAIL: rgpu smi --json exited $?"; exit 1; }
echo "$json"
n=$(echo "$RGPU_SERVER" | tr ',' '\n' | wc -l)
python3 - "$n" "$json" <<'PY' || exit 1
import json, sys
n, rows = int(sys.argv[1]), json.loads(sys.argv[2])
assert len(rows) == n, f"{len(rows)} rows for {n} servers"
for i, r in enumerate(rows):
    assert r["index"] == i and r["name"] == "rgpu sim", r
    assert r["uuid"].startswith("GPU-") and len(r["uuid"]) == 40, r
    assert r["memory_total_bytes"] == 16 << 30, r        # the sim's default per-session cap
    assert 0 <= r["memory_used_bytes"] < r["memory_total_bytes"], r
    assert r["utilization_percent"] is None, r
assert len({r["uuid"] for r in rows}) == n and len({r["pci_bus_id"] for r in rows}) == n, rows
PY
[[ $(echo "$table" | grep -c "rgpu sim") -eq $n ]] || { echo "FAIL: table rows"; exit 1; }
echo "$table" | grep -q "16384MiB" || { echo "FAIL: memory column"; exit 1; }
"$rgpu" smi --jsn >/dev/null 2>&1 && { echo "FAIL: an unknown flag was accepted"; exit 1; }
echo "PASS smi"
