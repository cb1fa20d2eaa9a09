# checkworld.sh - helpers shared by the tests of `backupmx check`
# (tests/integration/t_check_*.sh), sourced after world.sh and world_init.
#
#   chk ARGS        run backupmx check against the world; sets OUT, ERR, RC
#   jget EXPR       evaluate a Python expression over the JSON in $OUT
#   codes           the findings, one per line
#   has / t_has / t_hasnt CODE [SEVERITY [MX]]   finding present / absent
#   t_valid DESC    $OUT validates against docs/check-schema.json
#   mxpeer ADDR NAME [opts]   a tests/lib/mxpeer.py fake MX on ADDR:$P
# Sets PY, BMX and P (a free port shared by every fake MX).
PY=/usr/bin/python3
BMX=$BMX_BUILD/backupmx
[ -x "$BMX" ] || t_skip_all "no $BMX"
"$PY" -c 'import aiosmtpd, jsonschema' 2>/dev/null ||
	t_skip_all "python3-aiosmtpd/jsonschema missing"
P=$(world_free_port)

# chk ARGS: run "backupmx check" against our world; sets OUT, ERR, RC.
chk() {
	OUT=$("$BMX" check --resolver "$RESOLVER" --port "$P" "$@" 2>"$W/err")
	RC=$?
	ERR=$(cat "$W/err")
}
# jget EXPR: a Python expression over the JSON document d in $OUT;
# a(i) is the first address of MX i and s(i) its SMTP probe.
jget() {
	"$PY" -c 'import json,sys
d = json.loads(sys.stdin.read())
a = lambda i: d["mx"][i]["addresses"][0]
s = lambda i: a(i)["smtp"]
print(eval(sys.argv[1]))' "$1" <<<"$OUT"
}
# codes: the findings, one per line.
codes() { jget '"\n".join(f["severity"]+" "+f["code"]+": "+f["message"] for f in d["findings"])'; }
# has CODE [SEVERITY [MX]]: the finding is in $OUT.
has() {
	"$PY" -c 'import json,sys
d=json.loads(sys.stdin.read()); a=sys.argv[1:]
sys.exit(0 if any(f["code"]==a[0] and (len(a)<2 or f["severity"]==a[1]) and
                  (len(a)<3 or f["mx"]==a[2]) for f in d["findings"]) else 1)' "$@" <<<"$OUT"
}
t_has() { if has "${@:2}"; then t_ok "$1"; else t_fail "$1" "$(codes)"; fi; }
t_hasnt() { if has "${@:2}"; then t_fail "$1" "$(codes)"; else t_ok "$1"; fi; }
# t_valid DESC: $OUT validates against docs/check-schema.json.
t_valid() {
	local e
	if e=$("$PY" -c 'import json,sys,jsonschema
jsonschema.validate(json.loads(sys.stdin.read()), json.load(open(sys.argv[1])))' \
		"$BMX_ROOT/docs/check-schema.json" <<<"$OUT" 2>&1); then
		t_ok "$1"
	else
		t_fail "$1" "$(tail -n 15 <<<"$e")"
	fi
}
# mxpeer ADDR NAME [options]: a fake MX on ADDR:$P for the domains in $PEER_DOMAINS.
mxpeer() {
	local addr=$1 name=$2 d doms=()
	shift 2
	for d in $PEER_DOMAINS; do doms+=(--domain "$d"); done
	world_bg "$PY" "$BMX_ROOT/tests/lib/mxpeer.py" --listen "$addr:$P" "${doms[@]}" \
		--name "$name" "$@"
	world_wait_port "$addr" "$P" || t_fail "mxpeer on $addr:$P" "$(cat "$BG_LOG")"
}
