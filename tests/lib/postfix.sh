# postfix.sh - run private Postfix instances beside (not instead of) the
# system one, for interoperation tests and the demo.
#
#   pf_config DIR ADDR PORT ROLE [extra main.cf lines on stdin]
#       ROLE "primary": delivers the domains in $PF_DOMAINS (default
#       example.test) into maildirs under DIR/mail/DOMAIN/ (virtual delivery
#       as nobody), listens on ADDR:PORT.
#       ROLE "sender": no listener; relays everything to $PF_RELAYHOST
#       ("[ip]:port"), binding ADDR as the source address.
#   pf_start DIR / pf_stop DIR   (pf_start waits for the listener of a primary)
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
    if [ -n "${PF_LISTEN_OF[$d]:-}" ]; then
        # shellcheck disable=SC2086
        world_wait_port ${PF_LISTEN_OF[$d]} 15 || return 1
    fi
    return 0
}

# Stop an instance.
pf_stop()
{
    postfix -c "$1/etc" stop >>"$1/start.log" 2>&1
}

# Postfix's log of an instance.
pf_log() { cat "$1/postfix.log" 2>/dev/null; }

# Inject one message through an instance's sendmail.
pf_send()
{
    printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\ninterop test\r\n' "$2" "$3" "$4" |
        sendmail -C "$1/etc" -f "$2" "$3"
}
