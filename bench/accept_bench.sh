#!/bin/bash
# accept_bench.sh - messages per second backupmxd accepts (fsync on), beside
# Postfix set up as a backup MX and beside smtp-sink with no disk at all.
#
#   bench/accept_bench.sh [BUILD_DIR] [MESSAGES] [SESSIONS] [ROUNDS]   (default: build 20000 20 3)
#
# Runs in its own network and mount namespaces (it re-executes itself under
# `unshare -n -m`, so it needs root), with the test world of
# tests/lib/world.sh.  The load is always the same smtp-source command, one
# message of 4096 bytes per connection (smtp-source's default), one
# recipient each:
#
#   smtp-source -s SESSIONS -m MESSAGES -l 4096 -f s@client.test -t r@example.test ADDR:PORT
#
# against, one after another in the same run:
#   1. smtp-sink, no disk (the ceiling): smtp-sink -u postfix 127.0.0.3:PORT 256
#   2. Postfix as a backup MX (bench/lib/postfix_backupmx.sh): its own
#      instance, relay_domains = example.test, delivery deferred, so mail queues
#   3. backupmxd (BUILD_DIR/backupmxd), example.test on hold (backupmx hold),
#      log_level info, unbound on 127.0.0.1 answering the PTR lookups.
# Postfix's queue and backupmxd's spool are on the same file system:
#   BMX_BENCH_FS=root (default): the temp dir itself, on the machine's own
#     disk (the one the issue's figures describe: one fsync'd 4 KiB file in
#     about 0.45 ms).  ext4 without a journal skips, at every create, the
#     inodes freed in the last 60-360 s, which makes a run right after many
#     files were deleted (make check, an earlier run's cleanup) up to 1.8x
#     slower: start it minutes after such deletes, and read the medians;
#   BMX_BENCH_FS=loop: a fresh 4 GiB ext4 loop-mounted for this run and
#     formatted like the file system that holds the temp dir (here: no
#     journal), immune to that, but every flush goes through the loop
#     device's own page cache and kernel thread (a commit costs ~1.7x);
#   BMX_BENCH_FS=loop-journal: the same with mkfs.ext4 defaults (a journal).
# ROUNDS (default 3): the three programs run one after another, ROUNDS times
# in turn, each round with a fresh queue and spool; the verdict uses each
# program's median, so one noisy run (this machine's smtp-sink rate varies
# by 15 % from run to run) does not decide it.
# Each rate is MESSAGES / wall time of smtp-source; the script checks that
# every message was queued.  Prints each run, the medians, the ratios and
# the targets (issue 3: backupmxd >= 5x Postfix and >= 0.5x smtp-sink, on the
# medians); exit 1 if a run failed (not if a target is missed).
# Each run starts after `sync` and 6 s of rest (settle), and also prints how
# busy the CPUs were during it (from /proc/stat).
# BMX_BENCH_KEEPLOG=FILE keeps a copy of BUILD_DIR's backupmxd log (last round).
# BMX_BENCH_COMPARE=BUILD_DIR2 also runs DIR2's backupmxd in every round, right
# after BUILD_DIR's (an A/B of two builds in the same run), and prints its
# rates and median too; the verdict stays BUILD_DIR's.
# BMX_BENCH_FILTER (issue 14) judges every message in both MTAs the same way:
#   milter: a private rspamd (tests/lib/rspamd.sh) is the milter of both:
#     backupmxd `milters = inet:127.0.0.1:PORT`, Postfix `smtpd_milters`
#     (milter_protocol 6, milter_default_action tempfail); prints the CPU
#     seconds rspamd spent in each run;
#   dnsbl: three DNS lists served by the test unbound on 127.0.0.1:53, the
#     client listed in none (NXDOMAIN, cached by unbound after the first
#     query): backupmxd `dnsbl_sites` (postscreen syntax, threshold 3),
#     Postfix reject_rbl_client x2 + permit_dnswl_client in
#     smtpd_client_restrictions (its libc resolver, pointed at the test
#     unbound by a bind mount over /etc/resolv.conf in this mount namespace).
#     BMX_BENCH_DNSBL_LISTED=1 lists the client on both block lists: both
#     MTAs must then refuse everything (the runs "fail" with 0 queued),
#     which proves that both really look the lists up.
#   The verdict is then backupmxd >= 1.0x Postfix.
# BMX_BENCH_PROFILE="CMD ARGS" attaches "CMD ARGS -p PID" to backupmxd for its
# first round (perf record -g -o FILE, strace -c -f -o FILE) and stops it
# with SIGINT.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
MSGS=${2:-20000}
SESS=${3:-20}
ROUNDS=${4:-3}
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n -m env BMX_BENCH_NS=1 bash -c 'ip link set lo up && exec "$0" "$@"' \
		"$0" "$BUILD" "$MSGS" "$SESS" "$ROUNDS"
fi
export BMX_ROOT=$ROOT BMX_BUILD=$BUILD
FILTER=${BMX_BENCH_FILTER:-}
case $FILTER in
"" | milter | dnsbl) ;;
*) echo "BMX_BENCH_FILTER must be milter or dnsbl" >&2; exit 1 ;;
esac
[ "$FILTER" = dnsbl ] && DNS_PORT=53   # Postfix's libc resolver asks port 53 only
. "$ROOT/tests/lib/world.sh"
. "$ROOT/tests/lib/bmxd.sh"
. "$ROOT/bench/lib/postfix_backupmx.sh"
world_init
FS=${BMX_BENCH_FS:-root}
D=$W
BMX_EXTRA='' PFBMX_EXTRA=''
RSPAMD_PID=''
# Stop what the filter set-up started.
filter_stop()
{
	[ -n "$RSPAMD_PID" ] && rspamd_stop
	[ "$FILTER" = dnsbl ] && umount /etc/resolv.conf 2>/dev/null
	return 0
}
# The CPU seconds (user + system) of rspamd's processes so far, and the
# number of scans it logged.
rspamd_cpu()
{
	local hz p t=0
	hz=$(getconf CLK_TCK)
	[ -n "$RSPAMD_PID" ] || { echo 0 0; return; }
	for p in "$RSPAMD_PID" $(pgrep -P "$RSPAMD_PID"); do
		t=$(awk -v t="$t" -v hz="$hz" '{ printf "%.2f", t + ($14 + $15) / hz }' \
			"/proc/$p/stat" 2>/dev/null || echo "$t")
	done
	echo "$t $(rspamd_scan_times 2>/dev/null | wc -l)"
}
trap 'pfbmx_stop; [ -n "$FILTER" ] && filter_stop; [ "$FS" != root ] && umount "$D" 2>/dev/null; world_cleanup' EXIT
case $FS in
loop | loop-journal | root) ;;
*) echo "BMX_BENCH_FS must be loop, loop-journal or root" >&2; exit 1 ;;
esac
# Whether the file system holding directory $1 has a jbd2 journal (read from
# /proc/fs/jbd2, which needs no access to the device, unlike dumpe2fs).
has_journal()
{
	local dev
	dev=$(basename "$(findmnt -no SOURCE -T "$1" 2>/dev/null)")
	[ -n "$dev" ] && compgen -G "/proc/fs/jbd2/$dev-*" >/dev/null
}
if [ "$FS" != root ]; then
	# a fresh ext4 for Postfix's queue and the spool
	MKFS_OPT=
	if [ "$FS" = loop ]; then
		# like the temp dir's own file system: without a journal if it has none
		if [ "$(findmnt -no FSTYPE -T "$W" 2>/dev/null)" = ext4 ] && ! has_journal "$W"; then
			MKFS_OPT="-O ^has_journal"
		fi
	fi
	D=$W/fs
	mkdir -p "$D"
	truncate -s 4G "$W/fs.img"
	# shellcheck disable=SC2086
	mkfs.ext4 -q -F $MKFS_OPT "$W/fs.img" || { echo "mkfs.ext4 failed" >&2; exit 1; }
	mount -o loop "$W/fs.img" "$D" || { echo "mount -o loop failed" >&2; exit 1; }
	chmod 755 "$D"
fi

[ -x "$BUILD/backupmxd" ] || { echo "no $BUILD/backupmxd: run make first" >&2; exit 1; }
# Before each run: write back what earlier runs left dirty and rest 6 s, so
# that no run pays for the one before it.
settle()
{
	sync
	sleep 6
}
ADDR=127.0.0.3
# Report a failed run (the runs print their results from subshells).
failed()
{
	echo "$*" >&2
	: >"$W/failed"
}

# Time one smtp-source run against ADDR:PORT; prints the rate in msgs/s.
run_source()
{
	local port=$1 t0 t1 c0 c1
	c0=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
	t0=$(date +%s.%N)
	if ! smtp-source -s "$SESS" -m "$MSGS" -l 4096 -f s@client.test -t r@example.test \
		"$ADDR:$port" >"$W/source.$port.log" 2>&1; then
		failed "smtp-source against port $port failed:"
		tail -5 "$W/source.$port.log" >&2
	fi
	t1=$(date +%s.%N)
	c1=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
	awk -v m="$MSGS" -v a="$t0" -v b="$t1" -v c0="$c0" -v c1="$c1" 'BEGIN {
		split(c0, x, " "); split(c1, y, " ")
		busy = y[1] - x[1]; idle = y[2] - x[2]
		printf "%.0f %.2f %.0f\n", m / (b - a), b - a, 100 * busy / (busy + idle)
	}'
}

CPU=$(awk '/model name/ { sub(/.*: /, ""); print; exit }' /proc/cpuinfo)
echo "# machine: $(nproc) CPUs, $(uname -sr), $CPU"
JOURNAL="no journal"
has_journal "$D" && JOURNAL="with a journal"
echo "# spool and Postfix queue: $(df -T "$D" | awk 'NR==2 { print $2 " on " $1 }'), $JOURNAL ($FS)"
echo "# load:    smtp-source -s $SESS -m $MSGS -l 4096 -f s@client.test -t r@example.test" \
	"$ADDR:PORT"

# The DNS lists of BMX_BENCH_FILTER=dnsbl (unbound local-data lines).
list_zones()
{
	local l
	[ "$FILTER" = dnsbl ] || return 0
	for l in bl1 bl2 wl; do
		echo "local-zone: \"$l.test.\" static"
		echo "local-data: \"$l.test. 3600 IN SOA ns.$l.test. h.$l.test. 1 3600 900 604800 300\""
		echo "local-data: \"2.0.0.127.$l.test. 300 IN A 127.0.0.2\""
		# BMX_BENCH_DNSBL_LISTED=1: the client itself is on both block
		# lists, to prove that both MTAs really look the lists up (then
		# both must queue nothing: "queued only 0")
		[ -n "${BMX_BENCH_DNSBL_LISTED:-}" ] && [ $l != wl ] &&
			echo "local-data: \"1.0.0.127.$l.test. 300 IN A 127.0.0.2\""
	done
}
# example.test MX 10 mx1 (127.0.0.2), MX 20 mx2 (127.0.0.3), plus reverse zone
bmxd_world_dns < <(cat <<'EOF'
local-zone: "127.in-addr.arpa." static
local-data: "127.in-addr.arpa. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "1.0.0.127.in-addr.arpa. 3600 IN PTR client.test."
EOF
list_zones)
chmod 755 "$W"

# "; rspamd CPU Xs, N scans" between two rspamd_cpu readings.
rspamd_delta()
{
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ")
		printf "; rspamd CPU %.2fs, %d scans", y[1] - x[1], y[2] - x[2] }'
}
case $FILTER in
milter)
	. "$ROOT/tests/lib/rspamd.sh"
	RSPAMD_HTTP=0 rspamd_start "$W/rspamd" || { echo "rspamd did not start" >&2; exit 1; }
	echo "# filter: rspamd $(rspamd --version 2>/dev/null | head -1 | awk '{print $NF}')" \
		"as the milter of both (127.0.0.1:$RSPAMD_MILTER_PORT)"
	BMX_EXTRA="milters = inet:127.0.0.1:$RSPAMD_MILTER_PORT"
	PFBMX_EXTRA=$(printf 'smtpd_milters = inet:127.0.0.1:%s\nmilter_protocol = 6\nmilter_default_action = tempfail' \
		"$RSPAMD_MILTER_PORT")
	sleep 8   # rspamd's hs_helper compiles its regexps first (rspamd.sh)
	;;
dnsbl)
	printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:2\n' >"$W/resolv.conf"
	chmod 644 "$W/resolv.conf"
	mount --bind "$W/resolv.conf" /etc/resolv.conf ||
		{ echo "cannot bind-mount resolv.conf" >&2; exit 1; }
	echo "# filter: 3 DNS lists (bl1.test, bl2.test, wl.test) on the test unbound, client listed in none"
	BMX_EXTRA=$(printf 'dnsbl_sites = bl1.test*2, bl2.test=127.0.0.[2..11]*2, wl.test=127.0.[0..255].[1;2;3]*-2\ndnsbl_threshold = 3')
	PFBMX_EXTRA='smtpd_client_restrictions = permit_dnswl_client wl.test=127.0.[0..255].[1;2;3], reject_rbl_client bl1.test, reject_rbl_client bl2.test=127.0.0.[2..11]'
	;;
esac
export PFBMX_EXTRA

# 1. smtp-sink, no disk; prints "RATE SECONDS BUSY"
run_sink()
{
	local p pid
	p=$(world_free_port)
	world_bg smtp-sink -u postfix "$ADDR:$p" 256
	pid=$BG_PID
	world_wait_port "$ADDR" "$p" || { failed "smtp-sink did not start"; return; }
	settle
	run_source "$p"
	world_kill "$pid"
}

# 2. Postfix as a backup MX, its instance in $D/pfN;
# prints "RATE SECONDS BUSY QUEUED"
run_postfix()
{
	local r=$1 p res n
	p=$(world_free_port)
	mkdir -p "$D/pf$r"
	PFBMX_BASE=$D/pf$r pfbmx_start "$ADDR" "$p" example.test >&2 || { failed "postfix did not start"; return; }
	settle
	res=$(run_source "$p")
	sleep 1
	n=$(pfbmx_queued)
	pfbmx_stop
	[ "$n" -ge "$MSGS" ] || failed "postfix queued only $n of $MSGS"
	echo "$res $n"
}

# 3. backupmxd of build dir B, spool $D/bmxspoolN, example.test on hold;
# prints "RATE SECONDS BUSY QUEUED USER SYSTEM"
run_backupmxd()
{
	local r=$1 b=$2 bp spool pid res n cpu prof=
	bp=$(world_free_port)
	spool=$D/bmxspool$r${3:-}
	cat > "$W/bmx.conf" <<EOF
hostname = mx2.example.test
listen = $ADDR:$bp
spool = $spool
relay_domains = example.test
resolver = $RESOLVER
control_socket = $spool/control.sock
log_level = info
max_connections_per_ip = 1000
user = nobody
$BMX_EXTRA
EOF
	"$b/backupmxd" -c "$W/bmx.conf" >"$W/backupmxd.log" 2>&1 &
	pid=$!
	world_track "$pid"
	if ! world_wait_port "$ADDR" "$bp" 10; then
		failed "backupmxd did not start"
		tail "$W/backupmxd.log" >&2
		return
	fi
	for _ in $(seq 50); do [ -S "$spool/control.sock" ] && break; sleep 0.1; done
	"$b/backupmx" hold example.test --control "$spool/control.sock" >/dev/null ||
		failed "backupmx hold failed"
	if [ -n "${BMX_BENCH_PROFILE:-}" ] && [ "$r" = 1 ] && [ "$b" = "$BUILD" ]; then
		# e.g. "perf record -g -o /tmp/perf.data" or "strace -c -f -o /tmp/st"
		$BMX_BENCH_PROFILE -p "$pid" >"$W/profile.log" 2>&1 &
		prof=$!
		sleep 1
	fi
	settle
	res=$(run_source "$bp")
	if [ -n "$prof" ]; then
		kill -INT "$prof"; wait "$prof" 2>/dev/null
	fi
	n=$(find "$spool/queue" -type f | wc -l)
	cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f %.2f", $14 / hz, $15 / hz }' \
		"/proc/$pid/stat")
	kill -TERM "$pid"; wait "$pid" 2>/dev/null
	[ -n "${BMX_BENCH_KEEPLOG:-}" ] && [ "$b" = "$BUILD" ] && cp "$W/backupmxd.log" "$BMX_BENCH_KEEPLOG"
	[ "$n" -ge "$MSGS" ] || failed "backupmxd queued only $n of $MSGS"
	echo "$res $n $cpu"
}

COMPARE=${BMX_BENCH_COMPARE:+$(realpath -m "$BMX_BENCH_COMPARE")}
[ -z "$COMPARE" ] || [ -x "$COMPARE/backupmxd" ] || { echo "no $COMPARE/backupmxd" >&2; exit 1; }
SINKS='' PFS='' BMXS='' CMPS=''
for r in $(seq "$ROUNDS"); do
	read -r S_RATE S_T S_BUSY < <(run_sink)
	echo "round $r  smtp-sink (no disk):  $S_RATE msgs/s  (${S_T}s, CPUs ${S_BUSY}% busy)"
	f0=$(rspamd_cpu)
	read -r P_RATE P_T P_BUSY P_N < <(run_postfix "$r")
	f1=$(rspamd_cpu)
	echo "round $r  postfix backup MX:    $P_RATE msgs/s  (${P_T}s, CPUs ${P_BUSY}% busy," \
		"$P_N queued$([ "$FILTER" = milter ] && rspamd_delta "$f0" "$f1"))"
	read -r B_RATE B_T B_BUSY B_N B_U B_S < <(run_backupmxd "$r" "$BUILD")
	f2=$(rspamd_cpu)
	echo "round $r  backupmxd:            $B_RATE msgs/s  (${B_T}s, CPUs ${B_BUSY}% busy," \
		"$B_N queued; CPU ${B_U}s user, ${B_S}s system$([ "$FILTER" = milter ] &&
		rspamd_delta "$f1" "$f2"))"
	awk -v b="$B_RATE" -v p="$P_RATE" -v s="$S_RATE" -v r="$r" 'BEGIN {
		printf "round %s  backupmxd / postfix %.2fx, / sink %.2fx\n", r, b / p, b / s }'
	SINKS="$SINKS $S_RATE" PFS="$PFS $P_RATE" BMXS="$BMXS $B_RATE"
	if [ -n "$COMPARE" ]; then
		read -r C_RATE C_T C_BUSY C_N C_U C_S < <(run_backupmxd "$r" "$COMPARE" b)
		echo "round $r  backupmxd ($COMPARE): $C_RATE msgs/s  (${C_T}s, CPUs ${C_BUSY}% busy," \
			"$C_N queued; CPU ${C_U}s user, ${C_S}s system)"
		CMPS="$CMPS $C_RATE"
	fi
done

# The median of the numbers given.
median()
{
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# shellcheck disable=SC2086
SINK_RATE=$(median $SINKS) PF_RATE=$(median $PFS) BMX_RATE=$(median $BMXS)
echo "median of $ROUNDS: smtp-sink $SINK_RATE, postfix $PF_RATE, backupmxd $BMX_RATE msgs/s"
# shellcheck disable=SC2086
[ -z "$COMPARE" ] || echo "median of $ROUNDS: backupmxd ($COMPARE) $(median $CMPS) msgs/s"
awk -v b="$BMX_RATE" -v p="$PF_RATE" -v s="$SINK_RATE" -v f="$FILTER" 'BEGIN {
	t = f == "" ? 5 : 1.0
	printf "backupmxd / postfix:  %.2fx  (target >= %gx: %s)\n", b / p, t, (b / p >= t) ? "met" : "MISSED"
	if (f == "")
		printf "backupmxd / sink:     %.2fx  (target >= 0.5x: %s)\n", b / s,
			(b / s >= 0.5) ? "met" : "MISSED"
	else
		printf "backupmxd / sink:     %.2fx  (the sink filters nothing)\n", b / s
}'
[ ! -e "$W/failed" ]
