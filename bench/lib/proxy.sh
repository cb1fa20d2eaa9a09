# proxy.sh - the shared set-up of bench/proxy_bench.sh: a real Postfix primary
# that discards what it accepts, and the numbers read from it.
#
#   . "$BMX_ROOT/bench/lib/proxy.sh"   (after tests/lib/world.sh, tests/lib/postfix.sh
#                                       and world_init, inside `unshare -n`)
#   pfpri_start ADDR PORT AUTH   Postfix primary on ADDR:PORT (instance $W/pf-primary);
#                                AUTH: "xclient HOST", "xforward HOST" or "none"
#   pfpri_stop                   postfix stop, then KILL its master if it stays
#   pfpri_removed                messages the primary has finished (qmgr "removed")
#   pfpri_wait_removed N SECONDS wait until it has finished N; 0 if so, else 1
#   pfpri_clients ADDR           smtpd "client=" lines naming ADDR as the client
#   pct P FILE                   the P-th percentile (nearest rank) of FILE's numbers
#
# The primary is tests/lib/postfix.sh's "primary" role (virtual_mailbox_domains
# = example.test, recipients checked against @example.test, mynetworks
# 127.0.0.0/8, no peer-name lookups, Postfix's defaults otherwise: 100 smtpd
# processes, fsync of every queue file before 250, in_flow_delay 1s) with one
# change: virtual_transport = discard, so every accepted message goes all the
# way through cleanup, the queue file, qmgr and a delivery agent, but no
# maildir file is created (ext4 file creation would otherwise tax both halves
# of the bench alike and only add noise).

PFPRI_DIR=""

# Start the Postfix primary on ADDR:PORT, authorising HOST for XCLIENT or XFORWARD.
pfpri_start()
{
	local addr=$1 port=$2 auth=$3
	PFPRI_DIR=$W/pf-primary
	{
		echo "virtual_transport = discard"
		case $auth in
		xclient\ *) echo "smtpd_authorized_xclient_hosts = ${auth#xclient }" ;;
		xforward\ *) echo "smtpd_authorized_xforward_hosts = ${auth#xforward }" ;;
		none) ;;
		*) echo "pfpri_start: bad AUTH '$auth'" >&2; return 1 ;;
		esac
	} >"$W/pf-primary.extra.cf" || return 1
	# not in a pipeline: pf_config records the listener in PF_LISTEN_OF for pf_start
	PF_HOSTNAME=mx1.example.test pf_config "$PFPRI_DIR" "$addr" "$port" primary \
		<"$W/pf-primary.extra.cf" || return 1
	postfix -c "$PFPRI_DIR/etc" check >"$PFPRI_DIR/check.log" 2>&1 || {
		echo "postfix check failed:" >&2; cat "$PFPRI_DIR/check.log" >&2; return 1; }
	pf_start "$PFPRI_DIR" || {
		echo "the Postfix primary did not start:" >&2
		tail -5 "$PFPRI_DIR/start.log" "$PFPRI_DIR/postfix.log" >&2 2>/dev/null
		return 1
	}
}

# Stop the primary; kill its master (and so its children) if it does not go.
pfpri_stop()
{
	[ -n "$PFPRI_DIR" ] || return 0
	local pid i=0
	pid=$(sed -n '1s/ //gp' "$PFPRI_DIR/queue/pid/master.pid" 2>/dev/null)
	pf_stop "$PFPRI_DIR"
	while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1; i=$((i + 1))
	done
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	PFPRI_DIR=""
	return 0
}

# Messages the primary has delivered (discarded) and removed from its queue.
pfpri_removed()
{
	grep -c 'qmgr\[[0-9]*\]: [0-9A-F]*: removed$' "$PFPRI_DIR/postfix.log" 2>/dev/null || true
}

# Wait until the primary has removed N messages, up to SECONDS.
pfpri_wait_removed()
{
	local n=$1 end=$((SECONDS + $2))
	while [ "$(pfpri_removed)" -lt "$n" ]; do
		[ $SECONDS -ge "$end" ] && return 1
		sleep 0.2
	done
	return 0
}

# smtpd's "QID: client=NAME[ADDR]" lines with ADDR as the client address.
pfpri_clients()
{
	grep -c "smtpd\[[0-9]*\]: [0-9A-F]*: client=[^,]*\[$1\]" "$PFPRI_DIR/postfix.log" \
		2>/dev/null || true
}

# The P-th percentile (nearest rank) of the numbers in FILE, one a line.
pct()
{
	sort -g "$2" | awk -v p="$1" '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		i = int(p / 100 * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR
		print v[i] }'
}
