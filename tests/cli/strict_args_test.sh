#!/usr/bin/env bash
# tests/cli/strict_args_test.sh — nothing typed to `rgpu` is silently ignored: an unknown flag,
# a missing or extra argument, a misspelt verb or sub-verb is a usage error (exit 2) before any
# pool is contacted, naming what was wrong and the nearest spelling; `rgpu --version` answers.
set -u
rgpu=$1
fail=0
export RGPU_POOL=127.0.0.1:1 RGPU_TOKEN=unused  # never reached: every case fails first
# expect "ARGS" "TEXT THE MESSAGE MUST HOLD"
expect() {
  local out rc
  out=$("$rgpu" $1 2>&1 </dev/null); rc=$?
  if [ $rc -ne 2 ] || ! grep -qF -- "$2" <<<"$out"; then
    echo "FAIL: rgpu $1 -> $rc (want 2 and '$2'): $out"; fail=1
  fi
}
expect "usage --since yesterday" "--since wants"
expect "status --jsn" "did you mean --json?"
expect "session list --user x" "takes no option --user"
expect "usage --by week" "--by wants"
expect "sesion list" "did you mean session?"
expect "server lst" "did you mean list?"
expect "token create --rol admin" "did you mean --role?"
expect "server info" "needs 1 argument"
expect "server info a b" "got 'b'"
expect "status extra" "takes no arguments"
expect "run foo" "after --"
expect "session kill" "needs 1 argument"
expect "server drain --json x" "takes no option --json"
expect "rate set --gpu-hour cheap" "--gpu-hour wants an amount"
expect "rate set --fee 120" "--fee wants a percentage"
expect "rate set --bill sometimes" "--bill wants wall or busy"
expect "run --max-price -1 -- true" "--max-price wants"
expect "ledger verify" "needs 1 argument"
expect "payout record sim1" "needs 2 arguments"
expect "ledger export --format xml" "--format wants json or csv"
expect "earnings --all" "takes no option --all"
out=$("$rgpu" --version 2>&1); rc=$?
if [ $rc -ne 0 ] || ! grep -qE '^rgpu [0-9]+\.[0-9]+\.[0-9]+ \(control plane [0-9]+, data plane protocol [0-9]+\)$' <<<"$out"; then
  echo "FAIL: rgpu --version -> $rc: $out"; fail=1
fi
[ $fail -eq 0 ] && echo "PASS"
exit $fail
