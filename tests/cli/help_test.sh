#!/usr/bin/env bash
# Every `rgpu` verb answers --help (exit 0, usage on stdout) and a verb without its sub-verb is a
# usage error (exit 2) with a message, never a crash.
set -u
rgpu=$1
fail=0
for v in "" run status usage server session vgpu token "server list" "server drain" "session kill" "token create"; do
  out=$("$rgpu" $v --help 2>&1); rc=$?
  if [ $rc -ne 0 ] || ! grep -qi "usage" <<<"$out"; then echo "FAIL: rgpu $v --help -> $rc: $out"; fail=1; fi
done
for v in server session vgpu token; do
  out=$("$rgpu" $v 2>&1); rc=$?
  if [ $rc -ne 2 ] || [ -z "$out" ]; then echo "FAIL: rgpu $v -> $rc (want 2 and a message): $out"; fail=1; fi
done
out=$("$rgpu" frobnicate 2>&1); rc=$?
[ $rc -eq 2 ] || { echo "FAIL: unknown verb -> $rc: $out"; fail=1; }
[ $fail -eq 0 ] && echo "PASS"
exit $fail
