#!/bin/bash
# t_queue_stream.sh - `backupmx queue` streams (issue 17): --limit N,
# --domain D, --json as JSON lines (one message per line, every line parses),
# the mailq summary line; the daemon sends the listing in parts as the reader
# takes them, so a listing survives messages deleted while it is being read
# (no duplicate, nothing that stayed is missed, arrival order kept), a
# reader that stalls holds back nobody else and is dropped after 10 s, and
# readers that hang up or outlive the daemon leave nothing behind.
#
# World: no DNS; example.test and a.sub.example.test are routed to a port
# where nothing listens, so the 2,003 messages stay queued.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] && [ -x "$BMX" ] || t_skip_all "backupmx/backupmxd not built"
world_have smtp-source || t_skip_all "smtp-source (postfix) is not installed"
PY=$WORLD_PY
N=2000

DEAD=$(world_free_port)
bmxd_config <<CONF
route example.test = 127.0.0.2:$DEAD
route a.sub.example.test = 127.0.0.2:$DEAD
CONF
bmxd_start || { t_fail "daemon start"; t_done; }
CTL=(--control "$BMX_SPOOL/control.sock")
SOCK=$BMX_SPOOL/control.sock

out=$("$BMX" queue "${CTL[@]}")
t_is "an empty queue says so" "$out" "Mail queue is empty"
t_is "an empty queue: no JSON line" "$("$BMX" queue --json "${CTL[@]}" | wc -l)" 0

bmxd_send_n "$N"
for i in 1 2 3; do
	bmxd_submit 'Subject: sub '$i'\r\n\r\nbody\r\n' "u$i@a.sub.example.test" >/dev/null ||
		t_fail "message $i to a.sub.example.test"
done
world_wait_until 30 bash -c "[ \$(ls '$BMX_SPOOL/queue' | wc -l) -ge $((N + 3)) ]" ||
	t_fail "$((N + 3)) messages queued" "$(ls "$BMX_SPOOL/queue" | wc -l)"
TOTAL=$((N + 3))

# --- the text listing ---------------------------------------------------------
"$BMX" queue "${CTL[@]}" >"$W/q.txt"
t_is "queue exits 0" "$?" 0
t_like "queue: the mailq heading" "$(head -1 "$W/q.txt")" '^-Queue ID- '
t_is "queue: one line per message" "$(grep -cE '^[0-9A-Za-z]{20}[ *] ' "$W/q.txt")" "$TOTAL"
t_like "queue: the summary counts every message" "$(tail -1 "$W/q.txt")" \
	"^-- [0-9]+ Bytes in $TOTAL Requests\.$"

out=$("$BMX" queue --limit 5 "${CTL[@]}"); rc=$?
t_is "queue --limit 5 exits 0" "$rc" 0
t_is "queue --limit 5: five messages" "$(grep -cE '^[0-9A-Za-z]{20}[ *] ' <<<"$out")" 5
t_like "queue --limit 5: says it stopped" "$(tail -1 <<<"$out")" \
	"^-- [0-9]+ Bytes in 5 Requests; stopped at --limit 5, $TOTAL queued in all\.$"
t_is "queue --limit 5: the first five of the full listing" \
	"$(grep -oE '^[0-9A-Za-z]{20}' <<<"$out")" "$(grep -oE '^[0-9A-Za-z]{20}' "$W/q.txt" | head -5)"

out=$("$BMX" queue --domain A.SUB.example.test "${CTL[@]}"); rc=$?
t_is "queue --domain exits 0" "$rc" 0
t_is "queue --domain: the three messages for it" "$(grep -cE '^[0-9A-Za-z]{20}[ *] ' <<<"$out")" 3
t_like "queue --domain: their recipients" "$out" 'u1@a\.sub\.example\.test'
t_unlike "queue --domain: nothing for example.test" "$out" 'r@example\.test'
t_like "queue --domain: the summary names it" "$(tail -1 <<<"$out")" \
	'^-- [0-9]+ Bytes in 3 Requests for a\.sub\.example\.test\.$'
out=$("$BMX" queue --domain a.sub.example.test --limit 2 "${CTL[@]}")
t_is "queue --domain --limit 2: two messages" "$(grep -cE '^[0-9A-Za-z]{20}[ *] ' <<<"$out")" 2
t_is "queue --domain with nothing queued" "$("$BMX" queue --domain nosuch.test "${CTL[@]}")" \
	"No queued mail for nosuch.test"

# --- JSON lines ---------------------------------------------------------------
"$BMX" queue --json "${CTL[@]}" >"$W/q.jsonl"
t_is "queue --json exits 0" "$?" 0
out=$("$PY" - "$W/q.jsonl" "$TOTAL" <<'PY' 2>&1
import json, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "", "no final LF"
objs = [json.loads(l) for l in lines[:-1]]
assert len(objs) == int(sys.argv[2]), len(objs)
assert all(set(o) >= {"id", "size", "sender", "recipients"} for o in objs), objs[0]
assert len({o["id"] for o in objs}) == len(objs), "duplicates"
print("ok")
PY
)
t_is "queue --json: one JSON object per message per line, every line parses" "$out" ok
t_is "queue --json: the order of the text listing" \
	"$("$PY" -c 'import json,sys; [print(json.loads(l)["id"]) for l in open(sys.argv[1])]' "$W/q.jsonl")" \
	"$(grep -oE '^[0-9A-Za-z]{20}' "$W/q.txt")"
t_is "queue --json --limit 10: ten lines" "$("$BMX" queue --json --limit 10 "${CTL[@]}" | wc -l)" 10
out=$("$BMX" queue --json --domain a.sub.example.test "${CTL[@]}" | "$PY" -c '
import json, sys
print(sorted(r["address"] for l in sys.stdin for r in json.loads(l)["recipients"]))')
t_is "queue --json --domain: the three recipients" "$out" \
	"['u1@a.sub.example.test', 'u2@a.sub.example.test', 'u3@a.sub.example.test']"

# --- refusals -------------------------------------------------------------------
for bad in "--limit 0" "--limit -1" "--limit 5x" "--domain a@b" "--limit 3 show X"; do
	"$BMX" queue $bad "${CTL[@]}" >/dev/null 2>&1
	t_is "queue $bad: exit 3" "$?" 3
done
"$BMX" queue --domain a..b "${CTL[@]}" >/dev/null 2>"$W/e"
t_is "queue --domain a..b: refused by the daemon, exit 1" "$?" 1
t_is "... bad domain" "$(cat "$W/e")" "backupmx: bad domain"
"$BMX" status --limit 3 "${CTL[@]}" >/dev/null 2>&1
t_is "status --limit: exit 3" "$?" 3
out=$(printf 'limit 3 status\n' | "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
print(s.recv(4096).decode().strip())' "$SOCK")
t_is "the socket: limit is for queue only" "$out" '{"error":"only queue takes a limit"}'

# --- the raw stream: the end line, a stalled reader, deletions while reading --
# Read one line of a listing, wait $2 s, then say how the rest ended.
stall_reader() {
	"$PY" - "$SOCK" "$1" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"queue\n")
f = s.makefile("rb")
json.loads(f.readline())
time.sleep(float(sys.argv[2]))
end = False
try:
    for line in f:
        end = end or b'"end":true' in line
except OSError:
    pass
print("complete" if end else "cut")
PY
}
stall_reader 12 >"$W/stall.out" 2>&1 &   # the whole listing does not fit in the socket
STALL=$!
sleep 0.5
out=$("$PY" - "$SOCK" "$W/q.jsonl" <<'PY' 2>&1
import json, socket, subprocess, sys, time
sock, first = sys.argv[1], sys.argv[2]
order = [json.loads(l)["id"] for l in open(first)]

def ask(req):
    s = socket.socket(socket.AF_UNIX); s.connect(sock); s.sendall(req.encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            return data.decode()
        data += b

# a reader that takes one line and stalls
slow = socket.socket(socket.AF_UNIX)
slow.connect(sock)
slow.sendall(b"queue\n")
f = slow.makefile("rb")
got = [json.loads(f.readline())["id"]]
time.sleep(0.5)
t0 = time.time()
st = json.loads(ask("status\n"))
assert st["queued_messages"] == len(order), st["queued_messages"]
quick = time.time() - t0 < 2
# delete a block that holds the stalled reader's place in the queue
gone = set(order[300:1800])
for q in order[300:1800]:
    assert ask("delete %s\n" % q).startswith('{"deleted"'), q
end = None
for line in f:
    o = json.loads(line)
    if "end" in o:
        end = o
        break
    got.append(o["id"])
assert end and end["listed"] == len(got) and not end["limited"], end
assert len(set(got)) == len(got), "duplicates"
kept = [q for q in order if q not in gone]
assert set(kept) <= set(got), "missed %d" % len(set(kept) - set(got))
pos = {q: i for i, q in enumerate(order)}
assert [pos[q] for q in got] == sorted(pos[q] for q in got), "order"
shown_gone = [q for q in got if q in gone]
assert len(shown_gone) < len(gone), "the deletions did not show"
print("ok", quick, len(got), len(shown_gone))
PY
)
t_like "a listing read across 1,500 deletions: complete, no duplicate, in order" "$out" '^ok '
t_like "a stalled reader holds back nobody (status answered at once)" "$out" '^ok True '
t_diag "stream: $out"
"$BMX" queue --json "${CTL[@]}" | wc -l >"$W/n"
t_is "after the deletions: $((TOTAL - 1500)) messages" "$(cat "$W/n")" $((TOTAL - 1500))

# --- readers that go away, stall for good, or outlive the daemon -------------
"$PY" - "$SOCK" <<'PY'
import socket, sys
for i in range(20):   # readers that hang up after 100 octets
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"queue\n")
    s.recv(100); s.close()
PY
t_is "readers that hang up mid-listing: the daemon answers the next one" \
	"$("$BMX" queue --limit 1 --json "${CTL[@]}" | wc -l)" 1
wait "$STALL"
t_is "a reader that stalls over 10 s is dropped (its listing ends without the end line)" \
	"$(cat "$W/stall.out")" "cut"
stall_reader 30 >/dev/null 2>&1 &
STALL=$!
world_track "$STALL"
sleep 1
bmxd_stop
t_is "daemon stops cleanly, with a stalled listing open" "${BMXD_RC:-x}" 0
kill "$STALL" 2>/dev/null
t_done
