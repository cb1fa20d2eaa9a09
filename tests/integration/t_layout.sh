#!/bin/bash
# t_layout.sh - the maps of the tree stay true: every src/ folder is in the
# README's Layout section, every src/ file (and private header) in
# docs/DESIGN.md's Layout section, docs/STYLE.md exists, and no file in src/
# grows far past the 800 lines STYLE.md allows.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
world_init
cd "$BMX_ROOT" || exit 1

readme=$(sed -n '/^## Layout/,/^## /p' README.md)
design=$(sed -n '/^## Layout/,/^## Build/p' docs/DESIGN.md)
missing=""
for d in src/*/; do
	grep -qF "${d%/}" <<<"$readme" || missing="$missing ${d%/}"
done
t_is "README's Layout names every src/ folder" "$missing" ""
missing=""
for f in src/*/*.c src/*/*_int.h src/common/guard.h; do
	grep -qF "\`$(basename "$f")\`" <<<"$design" || missing="$missing $f"
done
t_is "DESIGN.md's Layout names every src/ file" "$missing" ""
stale=""
for n in $(grep -o '`[a-z_0-9]*\.[ch]`' <<<"$design" | tr -d '`'); do
	ls src/*/"$n" >/dev/null 2>&1 || stale="$stale $n"
done
t_is "DESIGN.md's Layout names no file that is gone" "$stale" ""
[ -s docs/STYLE.md ] && t_ok "docs/STYLE.md exists" || t_fail "docs/STYLE.md is missing"
long=$(wc -l src/*/*.c src/*/*.h | awk '$2 != "total" && $1 > 850 { print $2 " (" $1 ")" }')
t_is "no file in src/ over 850 lines" "$long" ""
t_done
