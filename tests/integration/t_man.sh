#!/bin/bash
# t_man.sh - the manual pages: backupmxd(8), backupmx(1) and backupmx.conf(5)
# render without errors or warnings (mandoc -T lint, mandoc -T utf8, and
# man -l through groff with warnings on), and cannot drift from the code:
# every subcommand of "backupmx --help", every option of the subcommands'
# --help, every option of "backupmxd -h" and every key that
# "backupmxd -n" prints must be documented.
. "$BMX_ROOT/tests/lib/world.sh"
world_init

MAN=$BMX_ROOT/man
PAGES="backupmxd.8 backupmx.1 backupmx.conf.5 check_backupmx.8"
BMX=$BMX_BUILD/backupmx
BMXD=$BMX_BUILD/backupmxd
world_have mandoc || world_have man || t_skip_all "neither mandoc nor man is installed"

# render PAGE: the page as plain text (mandoc, else man), in $W/PAGE.txt.
render() {
	if world_have mandoc; then
		mandoc -T utf8 -O width=100 "$MAN/$1" | col -b >"$W/$1.txt"
	else
		MANPAGER=cat MANWIDTH=100 man -l "$MAN/$1" 2>/dev/null | col -b >"$W/$1.txt"
	fi
}

for p in $PAGES; do
	if [ ! -f "$MAN/$p" ]; then
		t_fail "$p exists"
		continue
	fi
	head -5 "$MAN/$p" | grep -q '^\.Dd ' && grep -q '^\.Dt ' "$MAN/$p" &&
		grep -q '^\.Sh NAME' "$MAN/$p"
	t_is "$p is mdoc (.Dd, .Dt, .Sh NAME)" "$?" 0
	if world_have mandoc; then
		L=$(mandoc -T lint -W warning "$MAN/$p" 2>&1)
		t_is "mandoc -T lint $p: no errors or warnings" "$L" ""
		E=$(mandoc -T utf8 "$MAN/$p" 2>&1 >/dev/null)
		t_is "mandoc -T utf8 $p: no messages" "$E" ""
	else
		t_skip "mandoc -T lint $p" "no mandoc"
	fi
	if world_have man && world_have groff; then
		E=$(MANPAGER=cat MANWIDTH=80 man --warnings -l "$MAN/$p" 2>&1 >"$W/$p.man")
		t_is "man -l $p: no warnings" "$E" ""
		t_like "man -l $p renders the NAME section" "$(col -b <"$W/$p.man")" '^NAME$'
	else
		t_skip "man -l $p" "no man/groff"
	fi
	render "$p"
done

# documented PAGE WORD: WORD appears as a whole word in the rendered PAGE.
documented() { grep -qE -- "(^|[^A-Za-z0-9_-])$(sed 's/[.[\*^$]/\\&/g' <<<"$2")([^A-Za-z0-9_-]|$)" "$W/$1.txt"; }

# --- backupmx(1): subcommands and their options ---------------------------------
if [ -x "$BMX" ]; then
	SUBS=$("$BMX" --help | awk '/^subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
	t_like "backupmx --help lists subcommands" "$SUBS" '^check$'
	for s in $SUBS; do
		# A subsection per subcommand, and the subcommand in the synopsis.
		grep -q "^\.Ss $s\$" "$MAN/backupmx.1" &&
			grep -qE "^\.Cm $s( |\$)" "$MAN/backupmx.1"
		t_is "backupmx.1 documents subcommand $s" "$?" 0
		OPTS=$("$BMX" "$s" --help 2>&1 | grep -oE -- '(^|[ [,|])--?[A-Za-z0-9][A-Za-z0-9-]*' |
			sed 's/^[ [,|]//' | sort -u)
		missing=""
		for o in $OPTS; do
			documented backupmx.1 "$o" || missing="$missing $o"
		done
		t_is "backupmx.1 documents every option of '$s --help'" "$missing" ""
	done
else
	t_skip "backupmx.1 subcommands" "no $BMX"
fi

# --- backupmxd(8): options ------------------------------------------------------
if [ -x "$BMXD" ]; then
	missing=""
	for o in $("$BMXD" -h 2>&1 | grep -oE -- '(^|[ [])-[A-Za-z]' | sed 's/^[ []//' | sort -u); do
		documented backupmxd.8 "$o" || missing="$missing $o"
	done
	t_is "backupmxd.8 documents every option of backupmxd -h" "$missing" ""
	for sig in SIGTERM SIGINT SIGHUP; do
		documented backupmxd.8 "$sig"
		t_is "backupmxd.8 documents $sig" "$?" 0
	done
	t_like "backupmxd.8 has EXIT STATUS" "$(cat "$W/backupmxd.8.txt")" '^EXIT STATUS$'
else
	t_skip "backupmxd.8 options" "no $BMXD"
fi

# --- check_backupmx(8): every option of the plugin's --help -------------------
missing=""
for o in $("$BMX_ROOT/plugins/check_backupmx" --help | grep -oE -- '^  -[A-Za-z], --[a-z]+' |
	tr -d ','); do
	documented check_backupmx.8 "$o" || missing="$missing $o"
done
t_is "check_backupmx.8 documents every option of check_backupmx --help" "$missing" ""

# --- backupmx.conf(5): every key of backupmxd -n ---------------------------------
if [ -x "$BMXD" ]; then
	cat >"$W/t.conf" <<-EOF
	relay_domains = example.test
	spool = $W/spool
	$([ "$(id -u)" = 0 ] && echo "user = nobody")
	listen = 127.0.0.3:$(world_free_port)
	route example.test = [127.0.0.2]:25
	tls_policy example.test = verify
	EOF
	DUMP=$("$BMXD" -n -c "$W/t.conf" 2>&1)
	t_is "backupmxd -n exits 0" "$?" 0 || t_diag "$DUMP"
	KEYS=$(sed -n 's/^\([a-z_][a-z_0-9]*\)[ a-z0-9.]* =.*/\1/p' <<<"$DUMP" | sort -u)
	t_like "backupmxd -n prints per-domain route" "$KEYS" '^route$'
	N=$(wc -w <<<"$KEYS")
	missing=""
	for k in $KEYS; do
		# Each key is an item of the page's key lists: ".It Cm KEY".
		grep -qE "^\.It Cm $k( |\$)" "$MAN/backupmx.conf.5" || missing="$missing $k"
	done
	t_is "backupmx.conf.5 documents all $N keys of backupmxd -n" "$missing" ""
	for k in route tls_policy; do
		grep -qE "^\.It Cm $k Ar domain No =" "$MAN/backupmx.conf.5"
		t_is "backupmx.conf.5 documents per-domain '$k DOMAIN ='" "$?" 0
	done
	# And no key documented that the daemon does not know.
	extra=""
	for k in $(sed -n 's/^\.It Cm \([a-z_][a-z_0-9]*\) .*No = .*/\1/p' "$MAN/backupmx.conf.5" |
		sort -u); do
		grep -qx "$k" <<<"$KEYS" || extra="$extra $k"
	done
	t_is "backupmx.conf.5 documents no unknown key" "$extra" ""
else
	t_skip "backupmx.conf.5 keys" "no $BMXD"
fi
t_done
