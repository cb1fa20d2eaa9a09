# postfix_backupmx.sh - a private Postfix instance set up as a backup MX, for benchmarks.
#
#   . "$BMX_ROOT/bench/lib/postfix_backupmx.sh"   (after tests/lib/world.sh and world_init)
#   pfbmx_start ADDR PORT DOMAIN     configure and start it; sets PFBMX_DIR, PFBMX_QUEUE
#   pfbmx_queued                     number of queue files (incoming, active, deferred, hold)
#   pfbmx_stop                       postfix -c DIR stop, then kill what is left
#
# The instance lives in ${PFBMX_BASE:-$W}/postfix: its own config_directory (main.cf, master.cf),
# queue_directory and data_directory, so it is on the same file system as
# everything else under $W.  It listens only on ADDR:PORT (one smtpd line in
# master.cf, no chroot), accepts mail for DOMAIN through relay_domains with
# Postfix's default relay_recipient_maps (accept every recipient), and never
# delivers: relay_transport is the "relay" transport and defer_transports
# holds it, so accepted mail just queues, as on a backup MX whose primary is
# down.  Postfix fsyncs every queue file before its 250, as it always does.
# Logging goes to syslog, and there is no /dev/log in the bench namespace.
# PFBMX_EXTRA: more main.cf lines (smtpd_milters, smtpd_client_restrictions).

# Write main.cf/master.cf and start the instance on ADDR:PORT.
pfbmx_start()
{
	local addr=$1 port=$2 domain=$3
	PFBMX_DIR=${PFBMX_BASE:-$W}/postfix
	PFBMX_QUEUE=$PFBMX_DIR/queue
	mkdir -p "$PFBMX_DIR/conf" "$PFBMX_QUEUE" "$PFBMX_DIR/data"
	chown postfix: "$PFBMX_DIR/data"
	chmod 755 "$W" "${PFBMX_BASE:-$W}" "$PFBMX_DIR"
	cat > "$PFBMX_DIR/conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PFBMX_QUEUE
data_directory = $PFBMX_DIR/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx2-postfix.example.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 192.0.2.1/32
relay_domains = $domain
relay_transport = relay
defer_transports = relay
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
local_recipient_maps =
smtp_dns_support_level = disabled
biff = no
maillog_file = $PFBMX_DIR/maillog
maillog_file_prefixes = $PFBMX_DIR
${PFBMX_EXTRA:-}
EOF
	# Debian's master.cf with the smtpd line on ADDR:PORT and chroot off everywhere
	awk -v hp="$addr:$port" '
		/^smtp[ \t]+inet/ { print hp "\tinet\tn\t-\tn\t-\t-\tsmtpd"; next }
		/^[a-z]/ && NF >= 8 { $5 = "n"; print; next }
		{ print }' /etc/postfix/master.cf > "$PFBMX_DIR/conf/master.cf"
	postfix -c "$PFBMX_DIR/conf" check >"$PFBMX_DIR/check.log" 2>&1 || {
		echo "postfix check failed:" >&2; cat "$PFBMX_DIR/check.log" >&2; return 1; }
	postfix -c "$PFBMX_DIR/conf" start >"$PFBMX_DIR/start.log" 2>&1 || {
		echo "postfix start failed:" >&2; cat "$PFBMX_DIR/start.log" >&2; return 1; }
	world_wait_port "$addr" "$port" 10
}

# Number of queue files the instance holds.
pfbmx_queued()
{
	find "$PFBMX_QUEUE/incoming" "$PFBMX_QUEUE/active" "$PFBMX_QUEUE/deferred" \
		"$PFBMX_QUEUE/hold" -type f 2>/dev/null | wc -l
}

# Stop the instance; kill its master (and children) if it does not go.
pfbmx_stop()
{
	[ -n "${PFBMX_DIR:-}" ] || return 0
	local pid
	pid=$(sed -n '1s/ //gp' "$PFBMX_QUEUE/pid/master.pid" 2>/dev/null)
	postfix -c "$PFBMX_DIR/conf" stop >/dev/null 2>&1
	local i=0
	while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1; i=$((i + 1))
	done
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	PFBMX_DIR=""
}
