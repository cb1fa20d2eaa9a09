#!/bin/bash
# t_status_top.sh - the status page at scale (issue 17): the totals, only the
# top 50 destinations (most mail queued first, then those not up) and "N more
# destination(s) not shown"; the ?domain= filter (case-insensitive
# substring), its "no destination matches", an escaped filter value, and 400
# for a filter over 253 octets; a message's recipients cut at 10 ("... and
# N more").
#
# World: no DNS, so the 61 destinations (d1..d60 and hot under
# .sub.example.test) never deliver: one message for d1..d60, three for hot.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have curl || t_skip_all "curl is not installed"
PY=$WORLD_PY

HP=$(world_free_port)
bmxd_config <<CONF
status_listen = 127.0.0.3:$HP
CONF
bmxd_start || { t_fail "daemon start"; t_done; }
world_wait_port 127.0.0.3 "$HP" 5 || t_fail "status server listens on $HP"
URL=http://127.0.0.3:$HP/

rcpts=()
for i in $(seq 1 60); do rcpts+=("u@d$i.sub.example.test"); done
bmxd_submit 'Subject: many\r\n\r\nx\r\n' "${rcpts[@]}" >/dev/null
t_is "one message for 60 domains is queued" "$?" 0
for i in 1 2 3; do
	bmxd_submit 'Subject: hot\r\n\r\nx\r\n' "u$i@hot.sub.example.test" >/dev/null ||
		t_fail "message $i for hot.sub.example.test"
done
world_wait_until 10 bash -c "curl -s '${URL}status.json' | grep -o '\"domain\"' | wc -l |
	grep -qx 61" || t_fail "61 destinations known"

# Print what a page shows: totals, the rows (domain queued), the more-note, the filter value.
page() {
	"$PY" -c '
import html.parser, sys
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.where, self.rows, self.text, self.value = None, [], {}, None
        self.table = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.table = a.get("id")
        if tag == "tr" and self.table == "destinations":
            self.rows.append([])
        if tag == "td" and self.table == "destinations":
            self.rows[-1].append("")
        if tag == "p":
            self.where = a.get("id")
            self.text[self.where] = ""
        if tag == "input" and a.get("name") == "domain":
            self.value = a.get("value")
    def handle_endtag(self, tag):
        if tag == "table":
            self.table = None
        if tag == "p":
            self.where = None
    def handle_data(self, d):
        if self.where:
            self.text[self.where] += d
        if self.table == "destinations" and self.rows and self.rows[-1]:
            self.rows[-1][-1] += d
p = P()
p.feed(sys.stdin.read())
rows = [r for r in p.rows if r]
print("totals:", p.text.get("totals", "-"))
print("rows:", len(rows), " ".join("%s=%s" % (r[0], r[3]) for r in rows[:3]))
print("more:", p.text.get("more", "-"))
print("destinations:", p.text.get("destinations", "-"))
print("filter:", p.value)
'
}

out=$(curl -s "$URL" | page)
t_diag "$out"
t_like "the totals count every destination" "$out" '^totals: 61 destination\(s\):'
t_like "the table has the top 50, hot.sub.example.test (3 queued) first" "$out" \
	'^rows: 50 hot\.sub\.example\.test=3 d1\.sub\.example\.test=1 d10\.sub\.example\.test=1$'
t_like "the page says how many are not shown" "$out" '^more: 11 more destination\(s\) not shown'
t_like "the filter form is there, empty" "$out" '^filter: $'

out=$(curl -s "${URL}?domain=D1" | page)
t_like "?domain=D1: d1 and d10..d19 (case-insensitive substring)" "$out" \
	'^rows: 11 d1\.sub\.example\.test=1 d10\.sub\.example\.test=1 d11\.sub\.example\.test=1$'
t_like "?domain=D1: nothing more" "$out" '^more: -$'
t_like "?domain=D1: the totals still count every destination" "$out" '^totals: 61 destination'
t_like "?domain=D1: the form shows the filter" "$out" '^filter: D1$'
t_like "?domain=hot: the one" "$(curl -s "${URL}?domain=hot" | page)" '^rows: 1 hot\.sub'
out=$(curl -s "${URL}?domain=nomatch" | page)
t_like "?domain=nomatch: says so" "$out" '^destinations: No destination matches "nomatch"\.$'
raw=$(curl -s "${URL}?domain=%3Cscript%3Ex%22")
t_like "an evil filter is escaped in the form" "$raw" 'value="&lt;script&gt;x&quot;"'
t_unlike "... and nowhere raw" "$raw" '<script'
t_like "a message for 60 domains shows 10 recipients and the count of the rest" \
	"$(curl -s "$URL")" 'u@d10\.sub\.example\.test \([a-z]+\)<br>\.\.\. and 50 more</td>'
code=$(curl -s -o /dev/null -w '%{http_code}' "${URL}?domain=$(printf 'a%.0s' $(seq 1 254))")
t_is "a filter over 253 octets: 400" "$code" 400
code=$(curl -s -o /dev/null -w '%{http_code}' "${URL}?domain=$(printf 'a%.0s' $(seq 1 253))")
t_is "a filter of 253 octets: 200" "$code" 200

bmxd_stop
t_is "daemon stops cleanly" "${BMXD_RC:-x}" 0
t_done
