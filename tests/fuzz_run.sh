#!/bin/bash
# tests/fuzz_run.sh - run every libFuzzer target for a while; fail on any crash.
#
# Usage: tests/fuzz_run.sh [PATTERN]
#
# Runs each FUZZ_DIR/fuzz_* target (built by `make fuzz`) whose name matches
# the extended regex PATTERN for FUZZ_SECONDS seconds, on a temp copy of its
# seed corpus fuzz/corpus/NAME/ (the repository is never modified), with the
# dictionary fuzz/NAME.dict, or fuzz/smtp.dict for the SMTP parsers
# (fuzz_cmd, fuzz_reply, fuzz_data, fuzz_addr).  A target fails on a non-zero
# exit or any sanitizer/libFuzzer report (crash, leak, UB, timeout, OOM); its
# reproducer is saved as build/fuzz-artifacts/NAME-crash-*.  Prints one TAP
# line a target ("ok - fuzz_x (N runs, S s)") and exits 1 if any failed.
#
# Environment:
#   FUZZ_SECONDS  seconds per target (default 30; 20 when there are more than
#                 8 targets).  `FUZZ_SECONDS=3600 tests/fuzz_run.sh` for long runs.
#   FUZZ_JOBS     targets run at the same time (default 1)
#   FUZZ_DIR      where the targets are (default build/fuzz)
#   TEST_LOGS     where each target's full output goes (default build/test-logs)
#   FUZZ_ARTIFACTS  where reproducers go (default build/fuzz-artifacts)
#   FUZZ_SRC      where corpus/ and the dictionaries are (default fuzz)
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATTERN=${1:-}
FUZZ_DIR=${FUZZ_DIR:-$ROOT/build/fuzz}
LOGS=${TEST_LOGS:-$ROOT/build/test-logs}
ART=${FUZZ_ARTIFACTS:-$ROOT/build/fuzz-artifacts}
JOBS=${FUZZ_JOBS:-1}
SRC=${FUZZ_SRC:-$ROOT/fuzz}
# Inputs slower than this count as a hang.
PER_INPUT_TIMEOUT=25
RSS_LIMIT_MB=2048
# What a sanitizer or libFuzzer prints when something went wrong.
REPORT_RE='ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)'
REPORT_RE+='|runtime error:|deadly signal|SUMMARY: [A-Za-z]+Sanitizer'
SMTP_DICT_TARGETS=" fuzz_cmd fuzz_reply fuzz_data fuzz_addr "
: "${ASAN_OPTIONS:=detect_leaks=1:abort_on_error=1}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS UBSAN_OPTIONS
ulimit -c 0

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bmxfuzz.XXXXXX") || exit 2
# Kill running targets and remove the temp corpora.
cleanup()
{
	local p
	# fuzz_one subshells: stop their timeout(1), which passes TERM to the target
	for p in $(jobs -p); do pkill -TERM -P "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

targets=()
for f in "$FUZZ_DIR"/fuzz_*; do
	[ -f "$f" ] && [ -x "$f" ] || continue
	name=$(basename "$f")
	case $name in *.*) continue ;; esac
	[ -z "$PATTERN" ] || [[ $name =~ $PATTERN ]] || continue
	targets+=("$f")
done
if [ ${#targets[@]} = 0 ]; then
	echo "# no fuzz targets in $FUZZ_DIR${PATTERN:+ matching '$PATTERN'}"
	exit 0
fi
if [ -z "${FUZZ_SECONDS:-}" ]; then
	FUZZ_SECONDS=30
	[ ${#targets[@]} -gt 8 ] && FUZZ_SECONDS=20
fi
mkdir -p "$LOGS" "$ART"
echo "# fuzzing ${#targets[@]} target(s) for ${FUZZ_SECONDS}s each, $JOBS at a time"

# Fuzz one target; write its TAP line (and comment lines) to $TMP/NAME.result.
fuzz_one()
{
	local bin=$1 name corpus log dict=() rc runs why=""
	name=$(basename "$bin")
	corpus=$TMP/corpus.$name
	log=$LOGS/$name.log
	mkdir -p "$corpus"
	# seeds: fuzz/corpus/NAME/ (NAME without "fuzz_"), or fuzz/corpus/fuzz_NAME/
	[ -d "$SRC/corpus/${name#fuzz_}" ] && cp -R "$SRC/corpus/${name#fuzz_}/." "$corpus/"
	[ -d "$SRC/corpus/$name" ] && cp -R "$SRC/corpus/$name/." "$corpus/"
	if [ -f "$SRC/$name.dict" ]; then
		dict=(-dict="$SRC/$name.dict")
	elif [[ $SMTP_DICT_TARGETS == *" $name "* ]] && [ -f "$SRC/smtp.dict" ]; then
		dict=(-dict="$SRC/smtp.dict")
	fi
	(cd "$TMP" && exec timeout -k 10 $((FUZZ_SECONDS * 2 + 60)) "$bin" \
		-max_total_time="$FUZZ_SECONDS" -timeout="$PER_INPUT_TIMEOUT" \
		-rss_limit_mb="$RSS_LIMIT_MB" -print_final_stats=1 \
		-artifact_prefix="$ART/$name-" "${dict[@]}" "$corpus") >"$log" 2>&1 </dev/null
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if grep -Eq "$REPORT_RE" "$log"; then
		why="sanitizer/libFuzzer report"
	elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		why="did not stop after $((FUZZ_SECONDS * 2 + 60))s"
	elif [ "$rc" != 0 ]; then
		why="exit status $rc"
	fi
	{
		if [ -z "$why" ]; then
			echo "ok - $name (${runs:-?} runs, ${FUZZ_SECONDS}s)"
		else
			echo "not ok - $name ($why; log $log)"
			grep -E -m 4 'ERROR:|runtime error:|SUMMARY:|Test unit written' "$log" |
				sed 's/^/#   /'
			grep -E -m 3 '^ *#[0-9]+ 0x' "$log" | grep -v 'fuzzer::' | sed 's/^/#   /'
		fi
	} >"$TMP/$name.result"
}

running=0
for bin in "${targets[@]}"; do
	if [ "$running" -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
	fuzz_one "$bin" &
	running=$((running + 1))
	if [ "$JOBS" = 1 ]; then
		wait
		running=0
		cat "$TMP/$(basename "$bin").result"
	fi
done
wait
failed=0
for bin in "${targets[@]}"; do
	name=$(basename "$bin")
	[ "$JOBS" = 1 ] || cat "$TMP/$name.result"
	grep -q '^not ok' "$TMP/$name.result" && failed=$((failed + 1))
done
echo "# fuzzed ${#targets[@]} target(s), $((${#targets[@]} * FUZZ_SECONDS)) CPU seconds," \
	"$failed failed"
[ "$failed" = 0 ]
