#!/bin/bash
# fsync_cost.sh - the cost of one spool commit (create, write, syncfs, rename,
# fsync of queue/) on the file systems bench/accept_bench.sh can use.
#
#   bench/fsync_cost.sh [BUILD_DIR] [CYCLES]   (default: build 200)
#
# Compiles bench/fsync_cost.c into BUILD_DIR and runs it with batches of 1
# and 20 files on: the temp dir's own file system, a fresh loop-mounted ext4
# without a journal, and one with a journal (mkfs.ext4 defaults).  Needs root
# (mount); runs in its own mount namespace and removes what it made.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
CYCLES=${2:-200}
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -m env BMX_BENCH_NS=1 "$0" "$BUILD" "$CYCLES"
fi
mkdir -p "$BUILD"
cc -O2 -Wall -Wextra -o "$BUILD/fsync_cost" "$ROOT/bench/fsync_cost.c"
W=$(mktemp -d /tmp/bmxfsync.XXXXXX)
trap 'umount "$W/m" 2>/dev/null; rm -rf "$W"' EXIT
run()
{
	local label=$1 dir=$2
	for b in 1 20; do
		printf '%-34s ' "$label:"
		"$BUILD/fsync_cost" "$dir" "$b" "$CYCLES"
	done
}
mkdir "$W/r"
run "temp dir ($(findmnt -no FSTYPE -T "$W"))" "$W/r"
for kind in "no journal" "with a journal"; do
	opt=
	[ "$kind" = "no journal" ] && opt="-O ^has_journal"
	truncate -s 4G "$W/img"
	# shellcheck disable=SC2086
	mkfs.ext4 -q -F $opt "$W/img"
	mkdir -p "$W/m"
	mount -o loop "$W/img" "$W/m"
	run "fresh loop ext4, $kind" "$W/m"
	umount "$W/m"
	rm -f "$W/img"
done
