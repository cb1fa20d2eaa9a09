# rspamd.sh - a private rspamd (Debian 12: rspamd 3.4) for the milter tests.
#
# A real rspamd, its proxy worker in milter mode, inside the test network
# namespace: nothing of the system rspamd (the Debian service, /var/lib/rspamd,
# /etc/rspamd/local.d) is used or touched.  It reads the stock configuration
# of the package (/etc/rspamd, $CONFDIR) with our LOCAL_CONFDIR laid over it,
# keeps its state in DIR, and asks only the test unbound.  It is tuned for
# tests: every module that would look something up on the Internet (DNS
# lists, URL lists, fuzzy hashes, ASN, remote maps) is off, so a scan never
# waits for a lookup the namespace cannot answer.
#
#   . "$BMX_ROOT/tests/lib/rspamd.sh"   (after world.sh, world_init and,
#                                        normally, world_dns_start)
#   rspamd_start DIR         start it; sets RSPAMD_MILTER_PORT (proxy worker,
#                            milter), RSPAMD_HTTP_PORT (normal worker, HTTP, for
#                            rspamc), RSPAMD_PID, RSPAMD_LOG, RSPAMD_DIR; returns
#                            when the milter port listens (1 if it did not);
#                            after rspamd_stop, it starts again on the same ports
#   rspamd_stop              stop it (TERM to the main process, KILL after 2 s)
#   rspamd_kill              crash it: KILL to its workers, then to the main
#                            process (connections drop mid-conversation)
#   rspamd_check FILE [rspamc options]   scan FILE over HTTP with rspamc
#                            (`symbols`): diagnostics, not the milter path.
#                            Useful options: -i IP, -F MAILFROM, -r RCPT,
#                            --helo NAME, --mime (print the message with the
#                            headers rspamd would add), -j (JSON)
#   rspamd_scan_times        the "time:" of every scan in the log, one a line
#   rspamd_configdump [SECTION]   the effective configuration (rspamadm)
#
# Layout: DIR/conf is LOCAL_CONFDIR (local.d/*: our settings, each line
# explained below), DIR/db is DBDIR, DIR/run is RUNDIR, both owned by the user
# rspamd runs as (_rspamd, from the package; nobody without it).  Logging goes
# to the console, into RSPAMD_LOG=DIR.log: for DIR=$W/rspamd that is
# $W/rspamd.log, which world.sh keeps as an artifact when a test fails.
#
# Changing the settings: files a test puts in DIR/conf/local.d before
# rspamd_start and that rspamd_start does not write itself are kept (e.g.
# local.d/actions.conf); DIR/conf/override.d/NAME wins over our local.d/NAME.
# RSPAMD_HTTP=0 leaves out the normal worker (one process, ~60 MB, fewer).
#
# Measured here (Debian 12, rspamd 3.4, 2 cores):
#   - the milter port listens 1.1-2.4 s after the start; four processes
#     (main, rspamd_proxy, normal, hs_helper), ~50-65 MB RSS each;
#   - the first scan in a worker takes 30-220 ms (lazy set-up), later ones
#     2-6 ms; a whole SMTP session through Postfix + milter ~120 ms.
# What made it slow or wrong:
#   - the stock url_tld (9,600 public suffixes) is compiled with hyperscan in
#     the main process at every start: 15-20 s before any port listens.  We
#     give rspamd a five-line suffix list instead.
#   - `disable_hyperscan = true` is read but changes nothing in 3.4: the
#     hs_helper still compiles the regexp database (~1 s CPU, done ~7 s after
#     the start; scans before that use PCRE).  Harmless, so left alone.
#   - loopback clients are always "local" to rspamd (local_addrs does not
#     change that): SPF, DKIM, DMARC skip them and milter_headers adds
#     nothing.  check_local in spf/dkim/dmarc.conf and skip_local = false in
#     milter_headers.conf undo that.
#   - it logs, harmlessly: redis backends for BAYES missing, no
#     symbols.cache/rspamd.history at the first start, and "cannot create
#     file DBDIR/symbols.cache.new" when stopped.

RSPAMD_START_TIMEOUT=${RSPAMD_START_TIMEOUT:-15}

# Write local.d/NAME in the config dir of DIR (stdin), unless the test
# provided it already (see above).
_rspamd_put()
{
    local f=$1/conf/local.d/$2
    if [ -e "$f" ] && ! grep -q '^# written by tests/lib/rspamd.sh' "$f"; then
        cat >/dev/null
        return 0
    fi
    { echo '# written by tests/lib/rspamd.sh'; cat; } >"$f"
}

# Write the configuration of an instance in DIR (ports already chosen).
_rspamd_config()
{
    local d=$1 m
    mkdir -p "$d/conf/local.d" "$d/conf/override.d" "$d/db" "$d/run"

    # The public suffix list rspamd uses to find URLs and registered domains.
    # The stock one makes every start 15-20 s slower (hyperscan compile);
    # the tests use only these suffixes.
    printf '%s\n' test com net org example >"$d/conf/tld.dat"

    _rspamd_put "$d" options.inc <<EOF
# The test unbound, never /etc/resolv.conf (unreachable in the namespace):
# 127.0.0.1:9 when the test has no DNS, which fails at once.  One retry after
# 1 s, so a lookup that cannot be answered costs a scan at most ~2 s.
dns {
    nameserver = ["127.0.0.1:${DNS_PORT:-9}"];
    timeout = 1s;
    retransmits = 1;
}
# See above: a short public suffix list, so that a start takes ~1.5 s, not 20.
url_tld = "$d/conf/tld.dat";
EOF

    # The milter: what backupmxd and Postfix's smtpd_milters talk to.
    _rspamd_put "$d" worker-proxy.inc <<EOF
# Our port; replaces the stock localhost:11332 (local.d has priority 1).
bind_socket = "127.0.0.1:$RSPAMD_MILTER_PORT";
# Speak the milter protocol (v6) on that port instead of HTTP.
milter = yes;
# A milter session lasts a whole SMTP transaction: as in the stock config.
timeout = 120s;
# Scan in the proxy process itself: no HTTP hop to a normal worker.
upstream "local" {
    default = yes;
    self_scan = yes;
}
# One process is plenty for tests.
count = 1;
EOF

    # The HTTP scanner, for rspamc (diagnostics); RSPAMD_HTTP=0 turns it off.
    if [ "${RSPAMD_HTTP:-1}" = 0 ]; then
        _rspamd_put "$d" worker-normal.inc <<EOF
# Not wanted by this test (RSPAMD_HTTP=0): no worker at all.
count = -1;
EOF
    else
        _rspamd_put "$d" worker-normal.inc <<EOF
# Our port; replaces the stock localhost:11333.
bind_socket = "127.0.0.1:$RSPAMD_HTTP_PORT";
count = 1;
EOF
    fi

    # The controller (web UI, learning, stats): not needed; count -1 = no
    # process, no port (the stock one would take localhost:11334).
    _rspamd_put "$d" worker-controller.inc <<EOF
count = -1;
EOF
    _rspamd_put "$d" worker-fuzzy.inc <<EOF
# Fuzzy storage: off, as in the stock config (it would need redis).
count = -1;
EOF

    # Log to the console (stderr of the main process, i.e. RSPAMD_LOG).
    _rspamd_put "$d" logging.inc <<EOF
type = "console";
level = "info";
EOF

    # SPF for every client: without these two, a 127.0.0.x client gets no
    # SPF symbol at all (skipped as local).
    _rspamd_put "$d" spf.conf <<EOF
check_local = true;
check_authed = true;
EOF

    # DKIM verification and DMARC for loopback clients too (both skip "local"
    # clients otherwise, and a backup MX sees Internet clients).  They look up
    # only names of the message (selector._domainkey, _dmarc.FROM-DOMAIN):
    # the test unbound answers *.test itself, anything else SERVFAIL at once.
    _rspamd_put "$d" dkim.conf <<EOF
check_local = true;
check_authed = true;
EOF
    _rspamd_put "$d" dmarc.conf <<EOF
check_local = true;
check_authed = true;
EOF
    # Never sign: no DKIM-Signature (the stock config signs mail of local
    # clients when a key exists) and no ARC-Seal (stock: inbound mail).  The
    # milter reply then holds only what the tests look for.
    _rspamd_put "$d" dkim_signing.conf <<EOF
enabled = false;
EOF
    _rspamd_put "$d" arc.conf <<EOF
sign_inbound = false;
sign_local = false;
sign_authenticated = false;
EOF

    # The only header rspamd adds over milter: Authentication-Results (and it
    # deletes incoming ones), also for local and authenticated clients.  Its
    # authserv-id is the milter macro {daemon_name}, else {j}, else j, else
    # rspamd's own host name (gethostname()).
    _rspamd_put "$d" milter_headers.conf <<EOF
use = ["authentication-results"];
skip_local = false;
skip_authenticated = false;
EOF

    # Modules that would query the Internet (DNS lists, URL lists, fuzzy
    # hashes, ASN, phishing feeds, remote maps from maps.rspamd.com) or need
    # redis.  The test unbound answers them at once (NXDOMAIN for *.test,
    # SERVFAIL for the rest), but they add symbols, scores and log noise, and
    # remote maps are retried for ever; with DNS down each lookup would cost
    # the scan its DNS timeout.
    #   rbl          DNS lists (Spamhaus, DNSWL, SURBL/URIBL, ...) for the
    #                client IP, Received hops, URLs, e-mail addresses; also a
    #                remote URL whitelist map
    #   surbl        the old URL list module (empty in 3.4; rbl does it)
    #   asn          TXT lookups of the client IP at asn.rspamd.com
    #   fuzzy_check  UDP hash queries to rspamd.com's fuzzy servers
    #   phishing     DNS lookups at phishtank.rspamd.com, remote maps
    #   hfilter      A/MX lookups of HELO, rDNS and sender domains: scores
    #                that would depend on the names each test happens to use
    #   multimap     stock freemail/disposable lists from maps.rspamd.com
    #   mid mime_types whitelist   remote maps from maps.rspamd.com
    #   rspamd_update  rule updates from updates.rspamd.com (off by default)
    #   neural reputation ratelimit greylist replies url_redirector
    #   history_redis mx_check   need redis (no redis here: they would
    #                disable themselves; off explicitly)
    for m in rbl surbl asn fuzzy_check phishing hfilter multimap mid mime_types whitelist \
        rspamd_update neural reputation ratelimit greylist replies url_redirector \
        history_redis mx_check; do
        _rspamd_put "$d" "$m.conf" <<EOF
enabled = false;
EOF
    done
    return 0
}

# Start a private rspamd in DIR; see the top of this file.
rspamd_start()
{
    local -
    set +e
    local d=$1 user group i
    [ -n "$W" ] || _world_bail "world_init must be called before rspamd_start"
    world_have rspamd || t_skip_all "rspamd is not installed (scripts/deps)"
    case $d in /*) ;; *) d=$PWD/$d ;; esac
    RSPAMD_DIR=$d
    RSPAMD_LOG=$d.log
    : "${RSPAMD_MILTER_PORT:=$(world_free_port)}"
    if [ "${RSPAMD_HTTP:-1}" != 0 ]; then
        : "${RSPAMD_HTTP_PORT:=$(world_free_port)}"
    else
        RSPAMD_HTTP_PORT=""
    fi
    _rspamd_config "$d"
    if getent passwd _rspamd >/dev/null; then
        user=_rspamd
        group=_rspamd
    else
        user=nobody
        group=nogroup
    fi
    # rspamd drops to USER: its state dirs must be writable, the config readable
    chown -R "$user:$group" "$d/db" "$d/run"
    chmod -R a+rX "$d/conf"
    chmod 755 "$d"
    _world_spawn "$RSPAMD_LOG" rspamd -f -u "$user" -g "$group" \
        --var="LOCAL_CONFDIR=$d/conf" --var="DBDIR=$d/db" \
        --var="RUNDIR=$d/run" --var="LOGDIR=$d"
    RSPAMD_PID=$_WORLD_LAST
    export RSPAMD_DIR RSPAMD_LOG RSPAMD_PID RSPAMD_MILTER_PORT RSPAMD_HTTP_PORT
    for ((i = 0; i < RSPAMD_START_TIMEOUT * 20; i++)); do
        if ! world_alive "$RSPAMD_PID"; then
            t_diag "rspamd exited at start:" "$(tail -20 "$RSPAMD_LOG")"
            RSPAMD_PID=""
            return 1
        fi
        if _world_listening 127.0.0.1 "$RSPAMD_MILTER_PORT" &&
            { [ -z "$RSPAMD_HTTP_PORT" ] ||
                _world_listening 127.0.0.1 "$RSPAMD_HTTP_PORT"; }; then
            return 0
        fi
        sleep 0.05
    done
    t_diag "rspamd did not listen within ${RSPAMD_START_TIMEOUT}s:" \
        "$(grep -Ei 'error|fatal|cannot' "$RSPAMD_LOG" | tail -10)"
    return 1
}

# Stop our rspamd: TERM to the main process (it stops its workers), KILL
# after the grace time; waits until the milter port is closed.
rspamd_stop()
{
    [ -n "${RSPAMD_PID:-}" ] || return 0
    world_kill "$RSPAMD_PID"
    RSPAMD_PID=""
    world_wait_until 5 _rspamd_closed
    return 0
}

# Crash it: SIGKILL to every worker first (the milter connections drop at
# once, as in a crash), then to the main process, by PID.
rspamd_kill()
{
    [ -n "${RSPAMD_PID:-}" ] || return 0
    local kids
    kids=$(pgrep -P "$RSPAMD_PID")
    [ -n "$kids" ] && kill -KILL $kids 2>/dev/null
    kill -KILL "$RSPAMD_PID" 2>/dev/null
    RSPAMD_PID=""
    world_wait_until 5 _rspamd_closed
    return 0
}

# True when nothing listens on the milter port.
_rspamd_closed() { ! _world_listening 127.0.0.1 "$RSPAMD_MILTER_PORT"; }

# Scan FILE over HTTP (the normal worker) with rspamc; more options after FILE.
rspamd_check()
{
    local f=$1
    shift
    [ -n "${RSPAMD_HTTP_PORT:-}" ] || { echo "rspamd_check: no HTTP worker" >&2; return 2; }
    rspamc -h "127.0.0.1:$RSPAMD_HTTP_PORT" -t 10 "$@" "$f"
}

# Print the real time of every scan rspamd logged (e.g. "12.34ms"), one a line.
rspamd_scan_times()
{
    sed -n 's/.*, time: \([^,]*\), dns req:.*/\1/p' "$RSPAMD_LOG"
}

# Print the effective configuration of the instance (or one SECTION of it).
rspamd_configdump()
{
    rspamadm --var="LOCAL_CONFDIR=$RSPAMD_DIR/conf" --var="DBDIR=$RSPAMD_DIR/db" \
        --var="RUNDIR=$RSPAMD_DIR/run" --var="LOGDIR=$RSPAMD_DIR" configdump "$@"
}
