# drain.sh - the shared set-up of the drain benchmarks: a backlog queued at a
# backup MX (backupmxd or Postfix) while the primary is down, then measured
# on its way to the primary when it comes back.
#
#   . "$BMX_ROOT/bench/lib/drain.sh"   (after world.sh, bmxd.sh, postfix_backupmx.sh
#                                       and world_init, inside `unshare -n -m`)
#   drain_world_dns          unbound on 127.0.0.1:53 serving example.test (MX 10 mx1
#                            127.0.0.2, MX 20 mx2 127.0.0.3) and PTRs, plus a private
#                            /etc/resolv.conf (bind mount) so Postfix's lookups reach it
#   drain_machine_line       the "# machine:" and "# temp dir:" header lines
#   drain_queue PORT         queue $MSGS messages at 127.0.0.3:PORT; prints the seconds
#   drain_pf_start NAME      Postfix as a backup MX on 127.0.0.3:25 (instance $W/NAME),
#                            delivering by MX with its own DNS lookups
#   drain_pf_wait_deferred   wait until Postfix deferred the whole backlog; prints it
#
# Postfix's runs use port 25 for its smtpd and for the primary: Postfix only
# does its "best MX is me" check for port 25 (smtp_connect.c), and on another
# port it would relay the backlog to itself (mx2) in a loop.  Sets FAIL=1
# when smtp-source fails.

# DNS for example.test on 127.0.0.1:53 and a private resolv.conf pointing at it.
drain_world_dns()
{
	# shellcheck disable=SC2034  # read by world_dns_start
	DNS_PORT=53
	bmxd_world_dns <<'EOF'
local-zone: "127.in-addr.arpa." static
local-data: "127.in-addr.arpa. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "1.0.0.127.in-addr.arpa. 3600 IN PTR client.test."
local-data: "2.0.0.127.in-addr.arpa. 3600 IN PTR mx1.example.test."
local-data: "3.0.0.127.in-addr.arpa. 3600 IN PTR mx2.example.test."
EOF
	printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:2\n' >"$W/resolv.conf"
	chmod 644 "$W/resolv.conf"
	mount --bind "$W/resolv.conf" /etc/resolv.conf ||
		{ echo "cannot bind-mount resolv.conf" >&2; return 1; }
	if ! dig +time=1 +tries=1 +short example.test MX | grep -q mx1; then
		echo "the private resolv.conf does not reach unbound" >&2
		return 1
	fi
}

# The header lines every drain benchmark prints.
drain_machine_line()
{
	local cpu
	cpu=$(awk '/model name/ { sub(/.*: /, ""); print; exit }' /proc/cpuinfo)
	echo "# machine:  $(nproc) CPUs, $(uname -sr), $cpu, Postfix $(postconf -d -h mail_version)"
	echo "# temp dir: $W ($(df -T "$W" | awk 'NR==2 { print $2 " on " $1 }'))"
}

# Queue the backlog into 127.0.0.3:$1; prints the seconds it took.
drain_queue()
{
	local port=$1 t0=$SECONDS
	if ! smtp-source -s 10 -m "$MSGS" -l 4096 -f s@client.test -t r@example.test \
		127.0.0.3:"$port" >"$W/source.$port.log" 2>&1; then
		echo "smtp-source against port $port failed: $(tail -3 "$W/source.$port.log")" >&2
		FAIL=1
	fi
	echo $((SECONDS - t0))
}

# Start Postfix as a backup MX on 127.0.0.3:25 (instance dir $W/$1) delivering by MX.
drain_pf_start()
{
	PFBMX_BASE=$W/$1 pfbmx_start 127.0.0.3 25 example.test || return 1
	postconf -c "$PFBMX_DIR/conf" -e "defer_transports =" "smtp_dns_support_level =" \
		"proxy_interfaces = 127.0.0.3" || return 1
	postfix -c "$PFBMX_DIR/conf" reload >/dev/null 2>&1 || return 1
	sleep 2
}

# Wait until Postfix has deferred the whole backlog (up to 300 s); prints the count.
drain_pf_wait_deferred()
{
	local i=0 n=0
	while [ $i -lt 1500 ]; do
		n=$(find "$PFBMX_QUEUE/deferred" -type f | wc -l)
		[ "$n" -ge "$MSGS" ] && break
		sleep 0.2; i=$((i + 1))
	done
	echo "$n"
}
