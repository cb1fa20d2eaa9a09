#!/bin/bash
# t_status_page.sh - backupmxd's HTML status page (status_listen, "/")
# rendered by headless Chromium: the destination and its state, the queue
# with its oldest age, the newest messages, and an envelope sender holding
# "<script>" shown as text, never as an element (every field is escaped; the
# page also forbids script through its CSP).
#
# World: no DNS; example.test is routed to a port where nothing listens, so
# the destination goes down and the two messages stay queued.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || t_skip_all "chromium is not installed"
world_have swaks || t_skip_all "swaks is not installed"
PY=$WORLD_PY

HP=$(world_free_port)
DEAD=$(world_free_port)
bmxd_config <<CONF
status_listen = 127.0.0.3:$HP
route example.test = 127.0.0.2:$DEAD
probe_interval = 1h
CONF
bmxd_start || { t_fail "daemon start"; t_done; }
world_wait_port 127.0.0.3 "$HP" 5 || t_fail "status server listens on $HP"
URL=http://127.0.0.3:$HP/

world_swaks 127.0.0.3 "$BMX_PORT" --to plain@example.test >"$W/swaks.log" 2>&1
t_is "a plain message is queued" "$?" 0
world_smtpraw 127.0.0.3 "$BMX_PORT" >"$W/raw.log" 2>&1 <<'SCR'
expect 220
send b"EHLO client.test\r\n"
expect 250
send b"MAIL FROM:<\"<script>x</script>\"@client.test>\r\n"
expect 250
send b"RCPT TO:<evil@example.test>\r\n"
expect 250
send b"DATA\r\n"
expect 354
send b"Subject: xss\r\n\r\nhi\r\n.\r\n"
expect 250
send b"QUIT\r\n"
expect 221
SCR
t_is "a message from \"<script>x</script>\"@client.test is queued" "$?" 0

# wait until the destination is reported down (the first attempt failed)
dest_down() { curl -s "${URL}status.json" | grep -q '"state":"down"'; }
world_wait_until 10 dest_down
sleep 1

# --dump-dom prints the DOM after parsing (and after any script would have run)
dump() {
	timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
		--no-first-run --no-default-browser-check --disable-extensions \
		--disable-background-networking --disable-sync --user-data-dir="$W/chromium" \
		--dump-dom "$URL" 2>"$W/chromium.log"
}
dump >"$W/dom.html"
rc=$?
t_is "chromium renders the page" "$rc" 0
[ -s "$W/dom.html" ] || { t_fail "empty DOM" "$(tail -5 "$W/chromium.log")"; t_done; }

out=$("$PY" - "$W/dom.html" <<'PY' 2>&1
import html.parser, sys

class P(html.parser.HTMLParser):
    """Collect elements, table rows (cells as text) and cell classes."""
    def __init__(self):
        super().__init__()
        self.tags, self.rows, self.table = [], [], []
        self.cell = None
    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "table":
            self.table.append(dict(attrs).get("id"))
        elif tag == "tr":
            self.rows.append((self.table[-1] if self.table else None, []))
        elif tag in ("td", "th"):
            self.cell = [dict(attrs).get("class") or "", "", tag]
            self.rows[-1][1].append(self.cell)
    def handle_endtag(self, tag):
        if tag == "table" and self.table:
            self.table.pop()
    def handle_data(self, data):
        if self.cell is not None:
            self.cell[1] += data

p = P()
p.feed(open(sys.argv[1]).read())
res = []
res.append("script elements: %d" % p.tags.count("script"))
dest = [cells for t, cells in p.rows if t == "destinations" and cells[0][1] == "example.test"]
if dest:
    c = {k.split()[-1] if k else i: v for i, (k, v, _) in enumerate(dest[0])}
    res.append("destination example.test %s, queued %s, oldest %s" % (
        c.get("down", c.get("state", "?")), c.get("queued"),
        "set" if c.get("oldest", "-") not in ("-", "") else "unset"))
else:
    res.append("no destination row")
senders = [cells[3][1] for t, cells in p.rows if t == "messages" and len(cells) > 3 and cells[0][2] == "td"]
res.append("senders: " + " | ".join(sorted(senders)))
print("\n".join(res))
PY
)
t_diag "$out"
t_like "no script element in the DOM" "$out" '^script elements: 0$'
t_like "the destination is shown down with 2 queued and an oldest age" "$out" \
	'^destination example.test down, queued 2, oldest set$'
t_like "the <script> sender is shown as text" "$out" \
	'^senders: "<script>x</script>"@client.test \| sender@client.test$'
t_like "the raw page escapes the sender" "$(curl -s "$URL")" \
	'&quot;&lt;script&gt;x&lt;/script&gt;&quot;@client.test'

bmxd_stop
t_is "daemon stops cleanly" "${BMXD_RC:-x}" 0
t_done
