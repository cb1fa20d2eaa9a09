#!/bin/bash
# t_completion.sh - the bash completion of backupmx (etc/bash-completion/backupmx):
# it loads in a plain bash without the bash-completion package and registers
# itself (complete -p backupmx); scripted completions (COMP_WORDS,
# COMP_CWORD, then the function) give the subcommands, the global options,
# each subcommand's options (every option its --help names), show/delete,
# a queue ID of a running daemon (the domain held, one message queued; with
# -c FILE and with --control PATH), the domains of relay_domains (inline,
# file: tables, .domain entries left out, "relay_domains =" resetting the
# list), and nothing, silently, without a config or a daemon.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
COMPL=$BMX_ROOT/etc/bash-completion/backupmx
[ -f "$COMPL" ] || { t_fail "$COMPL exists"; t_done; }
[ -x "$BMX" ] || t_skip_all "backupmx not built"
# the completion runs "backupmx" as typed (COMP_WORDS[0]): the built one
export PATH=$BMX_BUILD:$PATH

# comp WORD...: complete the last WORD of "WORD..." in a fresh bash that has
# only sourced the file; prints the candidates on one line, sorted
comp()
{
	bash --norc --noprofile -c '
		. "$1" || exit 9
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		_backupmx
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " " | sed "s/ *\$//"
	' bash "$COMPL" "$@"
}

# --- loading -------------------------------------------------------------------
out=$(bash --norc --noprofile -c '. "$1" && complete -p backupmx; declare -F _init_completion' bash "$COMPL" 2>&1)
t_is "sourcing it in a plain bash (no bash-completion) registers _backupmx" "$out" \
	"complete -F _backupmx backupmx"
out=$(bash --norc --noprofile -c '. "$1"; COMP_WORDS=(backupmx ""); COMP_CWORD=1; _backupmx' bash "$COMPL" 2>&1)
t_is "... and completing prints nothing on the terminal" "$out" ""

# --- subcommands and options ---------------------------------------------------------
t_is "backupmx <TAB>: the subcommands" "$(comp backupmx "")" \
	"check drill flush hold queue release reload status"
t_is "backupmx h<TAB>" "$(comp backupmx h)" "hold"
t_is "backupmx --<TAB>: the global options" "$(comp backupmx --)" "--config --control --help --version"
t_is "backupmx queue --<TAB>" "$(comp backupmx queue --)" "--config --control --domain --help --json --limit"
t_is "backupmx hold --<TAB> (--force is hold's)" "$(comp backupmx hold --)" "--config --control --force --help --json"
t_is "backupmx release --<TAB>" "$(comp backupmx release --)" "--config --control --help --json"
t_is "backupmx check --p<TAB>" "$(comp backupmx check --p)" "--port --primary"
t_is "backupmx queue <TAB>: show, delete" "$(comp backupmx queue "")" "delete show"
t_is "backupmx queue --limit 5 <TAB> (an option's value is not an operand)" \
	"$(comp backupmx queue --limit 5 "")" "delete show"
t_is "backupmx check --resolver <TAB>" "$(comp backupmx check --resolver "")" "recursive system"
t_is "backupmx check --timeout <TAB>: nothing" "$(comp backupmx check --timeout "")" ""
# every subcommand of --help, every option of each --help, is completed
miss=""
for s in $("$BMX" --help | sed -n '/^subcommands:/,/^$/s/^  \([a-z]*\) .*/\1/p'); do
	grep -qw "$s" <<<"$(comp backupmx "")" || miss="$miss $s"
	all=$(comp backupmx "$s" -)
	for o in $("$BMX" "$s" --help 2>&1 | grep -oE '(^|[ ,[|])--?[a-zA-Z0-9][a-z0-9-]*' | sed 's/^[ ,[|]//' | sort -u); do
		grep -qE "(^| )$o( |\$)" <<<"$all" || miss="$miss $s:$o"
	done
done
t_is "every subcommand and option the --help texts name is completed" "$miss" ""

# --- domains from relay_domains ---------------------------------------------------------
mkdir -p "$W/cfg"
cat >"$W/cfg/a.conf" <<'CONF'
relay_domains = gone.example
relay_domains =
relay_domains = Example.COM, example.net .sub.example.org   # a comment
relay_domains = file:doms file:/nonexistent/doms
#relay_domains = commented.example
CONF
printf 'a.example\n# a comment\n.wild.example\nb.example.  # trailing dot\n' >"$W/cfg/doms"
t_is "hold <TAB>: relay_domains of -c FILE (inline, file:, no .domain, reset by 'relay_domains =')" \
	"$(comp backupmx -c "$W/cfg/a.conf" hold "")" "a.example b.example example.com example.net"
t_is "release e<TAB>, --config=FILE" "$(comp backupmx --config = "$W/cfg/a.conf" release e)" \
	"example.com example.net"
t_is "flush <TAB>, -c after the subcommand" "$(comp backupmx flush -c "$W/cfg/a.conf" a)" "a.example"
t_is "queue --domain <TAB>" "$(comp backupmx -c"$W/cfg/a.conf" queue --domain b)" "b.example"
t_is "hold DOMAIN <TAB>: one domain only" "$(comp backupmx -c "$W/cfg/a.conf" hold a.example "")" ""
t_is "-c <TAB>: file names" "$(comp backupmx -c "$W/cfg/a.c")" "$W/cfg/a.conf"
out=$(comp backupmx -c "$W/none.conf" hold "" 2>&1)
t_is "no config file: no domains, no message" "$out" ""

# --- queue IDs of a running daemon ------------------------------------------------------
bmxd_config </dev/null
bmxd_start || { t_fail "backupmxd starts"; t_done; }
CTL=$BMX_SPOOL/control.sock
t_is "the domain held" "$("$BMX" --control "$CTL" hold example.test >/dev/null 2>&1; echo $?)" 0
QID=$(bmxd_submit 'Subject: completion\r\n\r\nbody\r\n')
t_like "a message queued" "$QID" '^[0-9A-Za-z]+$'
t_is "backupmx -c CONF queue show <TAB>: its queue ID" \
	"$(comp backupmx -c "$W/bmx.conf" queue show "")" "$QID"
t_is "backupmx queue --control SOCK delete <prefix><TAB>" \
	"$(comp backupmx queue --control "$CTL" delete "${QID:0:3}")" "$QID"
t_is "a prefix no ID has: nothing" "$(comp backupmx --control "$CTL" queue show "%%")" ""
t_is "the domains of the daemon's config: .sub.example.test left out" \
	"$(comp backupmx -c "$W/bmx.conf" release "")" "example.test"
bmxd_stop
out=$(comp backupmx --control "$CTL" queue show "" 2>&1)
t_is "the daemon stopped: no queue IDs, no message" "$out" ""
t_done
