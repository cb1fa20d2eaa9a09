# postfix.sh - run private Postfix instances beside (not instead of) the
# system one, for interoperation tests and the demo.
#
#   pf_config DIR ADDR PORT ROLE [extra main.cf lines on stdin]
#       ROLE "primary": delivers the domains in $PF_DOMAINS (default
#       example.test) into maildirs under DIR/mail/DOMAIN/ (virtual delivery
#       as nobody), listens on ADDR:PORT.
#       ROLE "sender": no listener; relays everything to $PF_RELAYHOST
#       ("[ip]:port"), binding ADDR as the source address.
#   pf_start DIR / pf_stop DIR   (pf_start waits for the listener of a primary;
#                                pf_stop waits until the master has exited)
#   pf_stop_all                  stop every instance pf_start started (for an
#                                EXIT trap: a master outlives the test otherwise)
#   pf_set DIR 'key = value'...  change main.cf (postconf -e); pf_reload applies it
#   pf_reload DIR                `postfix reload` (new sessions get the new main.cf)
#   pf_ehlo DIR SRC              the EHLO reply of a primary to a client at SRC
#   pf_log DIR                   Postfix's own log (maillog_file)
#   pf_send DIR FROM TO SUBJECT  inject one message with sendmail -C DIR
# PF_HOSTNAME overrides a primary's myhostname.
# The address must exist on an interface (inside a test namespace:
# `ip addr add 127.0.0.2/8 dev lo`).  Needs root.

# Write DIR/etc/main.cf and master.cf for an instance.
pf_config()
{
    local d=$1 addr=$2 port=$3 role=$4
    mkdir -p "$d/etc" "$d/queue" "$d/data" "$d/mail"
    chown postfix: "$d/data" 2>/dev/null
    chown nobody: "$d/mail"
    chmod 755 "$d"
    {
        echo "compatibility_level = 3.6"
        echo "queue_directory = $d/queue"
        echo "data_directory = $d/data"
        echo "mail_owner = postfix"
        echo "setgid_group = postdrop"
        echo "inet_protocols = ipv4"
        echo "mynetworks = 127.0.0.0/8"
        echo "mydestination ="
        echo "alias_maps ="
        echo "alias_database ="
        echo "local_recipient_maps ="
        echo "smtpd_peername_lookup = no"
        echo "smtp_dns_support_level = disabled"
        echo "biff = no"
        echo "smtputf8_enable = no"
        echo "maillog_file = $d/postfix.log"
        echo "maillog_file_prefixes = $d"
        if [ "$role" = primary ]; then
            echo "myhostname = ${PF_HOSTNAME:-pf-$addr.example.test}"
            echo "inet_interfaces = $addr"
            echo "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination"
            echo "virtual_mailbox_domains = ${PF_DOMAINS:-example.test}"
            echo "virtual_mailbox_base = $d/mail"
            printf '%s\n' ${PF_DOMAINS:-example.test} | sed 's|.*|@& &/|' > "$d/etc/vmailbox"
            echo "virtual_mailbox_maps = texthash:$d/etc/vmailbox"
            echo "virtual_uid_maps = static:$(id -u nobody)"
            echo "virtual_gid_maps = static:$(id -g nobody)"
            echo "virtual_minimum_uid = 1"
        else
            echo "myhostname = pf-sender.client.test"
            echo "inet_interfaces = $addr"
            echo "relayhost = ${PF_RELAYHOST:?set PF_RELAYHOST}"
            echo "smtp_bind_address = $addr"
            echo "default_transport = smtp"
        fi
        cat
    } > "$d/etc/main.cf"
    {
        [ "$role" = primary ] && echo "$addr:$port inet n - n - - smtpd"
        cat <<'MASTER'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
MASTER
    } > "$d/etc/master.cf"
    PF_LISTEN_OF[$d]=""
    [ "$role" = primary ] && PF_LISTEN_OF[$d]="$addr $port"
    return 0
}
declare -gA PF_LISTEN_OF

# Start an instance (Postfix prints start-up errors only to a terminal: give it one).
pf_start()
{
    local d=$1
    if command -v script >/dev/null; then
        script -qec "postfix -c $d/etc start" /dev/null >>"$d/start.log" 2>&1 </dev/null || return 1
    else
        postfix -c "$d/etc" start >>"$d/start.log" 2>&1 || return 1
    fi
    PF_RUNNING[$d]=1
    if [ -n "${PF_LISTEN_OF[$d]:-}" ]; then
        # shellcheck disable=SC2086
        world_wait_port ${PF_LISTEN_OF[$d]} 15 || return 1
    fi
    return 0
}
declare -gA PF_RUNNING

# Stop an instance (postfix stop waits up to 5 s for the master), then wait
# until its master is gone and, for a primary, its port is closed.
pf_stop()
{
    local d=$1 i pid
    pid=$(sed -n '1s/[^0-9]//gp' "$d/queue/pid/master.pid" 2>/dev/null)
    postfix -c "$d/etc" stop >>"$d/start.log" 2>&1
    unset 'PF_RUNNING[$d]'
    for ((i = 0; i < 100; i++)); do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            sleep 0.1
            continue
        fi
        # shellcheck disable=SC2086
        [ -n "${PF_LISTEN_OF[$d]:-}" ] && _world_listening ${PF_LISTEN_OF[$d]} &&
            { sleep 0.1; continue; }
        return 0
    done
    return 1
}

# Stop every instance started by pf_start and not stopped yet.
pf_stop_all()
{
    local d
    for d in "${!PF_RUNNING[@]}"; do pf_stop "$d"; done
    return 0
}

# Change main.cf parameters of an instance: pf_set DIR 'key = value' ...
pf_set()
{
    local d=$1
    shift
    postconf -c "$d/etc" -e "$@" >>"$d/start.log" 2>&1
}

# Make a running instance re-read its configuration.
pf_reload()
{
    postfix -c "$1/etc" reload >>"$1/start.log" 2>&1
}

# Print the EHLO reply of primary DIR to a client bound to SRC (one session).
pf_ehlo()
{
    local d=$1 src=$2 hp
    hp=${PF_LISTEN_OF[$d]:?not a primary}
    "${WORLD_PY:-python3}" - "${hp% *}" "${hp#* }" "$src" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(10)
s.bind((sys.argv[3], 0))
s.connect((sys.argv[1], int(sys.argv[2])))
f = s.makefile("rb")
def reply():
    out = []
    while True:
        line = f.readline().decode("latin-1")
        out.append(line.rstrip("\r\n"))
        if len(line) < 4 or line[3] != "-":
            return out
reply()
s.sendall(b"EHLO probe.test\r\n")
print("\n".join(reply()))
s.sendall(b"QUIT\r\n")
reply()
PY
}

# Postfix's log of an instance.
pf_log() { cat "$1/postfix.log" 2>/dev/null; }

# Inject one message through an instance's sendmail.
pf_send()
{
    printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\ninterop test\r\n' "$2" "$3" "$4" |
        sendmail -C "$1/etc" -f "$2" "$3"
}
