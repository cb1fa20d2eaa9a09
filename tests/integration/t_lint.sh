#!/bin/bash
# t_lint.sh - static analysis stays clean: cppcheck and gcc -fanalyzer over
# src/ (scripts/lint).  A finding fails the test; a missing tool skips it.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
world_init
out=$("$BMX_ROOT/scripts/lint" 2>&1); rc=$?
case $rc in
0) t_ok "lint clean: $(tail -1 <<<"$out")" ;;
2) t_skip "lint" "$(tail -1 <<<"$out")" ;;
*) t_fail "lint findings" "$out" ;;
esac
t_done
