# Makefile - build, test and install backupmx (plain GNU make + pkg-config).
#
#   make            build build/backupmx and build/backupmxd
#   make check      install missing test peers, build with ASan+UBSan (and plain, for the
#                   valgrind test), run every test
#   make demo       install missing peers, build, run the local failover demonstration
#                   (KEEP=1 leaves its world running afterwards, to look at it)
#   make fuzz       build the libFuzzer targets into build/fuzz/
#   make install    install binaries, config, man pages and unit (PREFIX, DESTDIR)
#   make deb        build the Debian package backupmx_VERSION_ARCH.deb (scripts/deb)
#
# Source files are picked up by wildcard: src/<module>/*.c goes into
# libbackupmx.a, except src/cli (the backupmx binary) and src/daemon
# (the backupmxd binary).  tests/unit/test_*.c each become one cmocka binary,
# fuzz/fuzz_*.c each become one libFuzzer target.

CC       ?= cc
PKGS     := libevent libevent_openssl openssl libunbound libidn2 libpsl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)
# libsystemd (sd_notify, src/daemon/notify.c) is linked into backupmxd only.
SD_CFLAGS  := $(shell pkg-config --cflags libsystemd 2>/dev/null)
SD_LIBS    := $(shell pkg-config --libs libsystemd 2>/dev/null || echo -lsystemd)

BUILD    ?= build
WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wno-unused-parameter -Wno-format-truncation
ifeq ($(WERROR),1)
WARN     += -Werror
endif
OPT      ?= -O2
SANFLAGS :=
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT      := -O1
endif
CPPFLAGS += -D_GNU_SOURCE -Isrc
CFLAGS   += -std=c11 -g $(OPT) $(WARN) $(SANFLAGS) $(PKG_CFLAGS) -MMD -MP
LDFLAGS  += $(SANFLAGS)
LDLIBS   += $(PKG_LIBS) -lm

LIB_SRCS := $(filter-out src/cli/% src/daemon/%,$(wildcard src/*/*.c))
CLI_SRCS := $(wildcard src/cli/*.c)
DMN_SRCS := $(wildcard src/daemon/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
DMN_OBJS := $(DMN_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)

PREFIX   ?= /usr/local
DESTDIR  ?=
# Where Nagios/Icinga look for plugins (Debian monitoring-plugins, Icinga 2 PluginDir).
PLUGINDIR ?= /usr/lib/nagios/plugins

.SECONDARY:
.PHONY: all check demo fuzz fuzz-long install clean deps unit tests bench
all: $(BUILD)/backupmx $(BUILD)/backupmxd

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libbackupmx.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/backupmx: $(CLI_OBJS) $(BUILD)/libbackupmx.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/src/daemon/notify.o: CFLAGS += $(SD_CFLAGS)

$(BUILD)/backupmxd: $(DMN_OBJS) $(BUILD)/libbackupmx.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(SD_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libbackupmx.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libbackupmx.a $(LDFLAGS) $(LDLIBS) $(CMOCKA_LIBS)

tests: $(UNIT_BINS)

deps:
	scripts/deps

# make check: every test, sanitized, ending with "N passed, N failed".
check: deps
	$(MAKE) SAN=1 BUILD=build/san all tests
	$(MAKE) all
	$(MAKE) fuzz
	FUZZ_SECONDS=20 FUZZ_JOBS=2 tests/run build/san

demo: deps all
	DEMO_RUN_ON=$(KEEP) tests/demo/demo.sh $(BUILD)

# libFuzzer targets: clang, ASan + UBSan, linked against a clang-built library.
FUZZ_CC    := clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined -D_GNU_SOURCE -Isrc $(PKG_CFLAGS)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -MMD -MP -c $< -o $@   # .d: see the -include at the end
build/fuzz/%: fuzz/%.c $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJS) $(PKG_LIBS) -lm
fuzz fuzz-build: $(FUZZ_SRCS:fuzz/%.c=build/fuzz/%)

fuzz-long: fuzz
	FUZZ_SECONDS=3600 tests/fuzz_run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)/etc/backupmx
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -d $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)/lib/systemd/system
	install -d -m 0700 $(DESTDIR)/var/spool/backupmx
	@# the daemon's user (README): created on a real install as root, never removed
	if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && ! getent passwd backupmx >/dev/null; then \
		useradd --system --home-dir /var/spool/backupmx --shell /usr/sbin/nologin backupmx && \
		chown backupmx: /var/spool/backupmx; fi
	install -m 0755 $(BUILD)/backupmx $(DESTDIR)$(PREFIX)/bin/backupmx
	install -m 0755 $(BUILD)/backupmxd $(DESTDIR)$(PREFIX)/sbin/backupmxd
	test -e $(DESTDIR)/etc/backupmx/backupmx.conf || install -m 0644 etc/backupmx.conf $(DESTDIR)/etc/backupmx/backupmx.conf
	install -m 0644 man/backupmx.1 $(DESTDIR)$(PREFIX)/share/man/man1/backupmx.1
	install -m 0644 man/backupmx.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/backupmx.conf.5
	install -m 0644 man/backupmxd.8 $(DESTDIR)$(PREFIX)/share/man/man8/backupmxd.8
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' etc/backupmxd.service > $(DESTDIR)/lib/systemd/system/backupmxd.service.tmp
	chmod 0644 $(DESTDIR)/lib/systemd/system/backupmxd.service.tmp
	mv -f $(DESTDIR)/lib/systemd/system/backupmxd.service.tmp $(DESTDIR)/lib/systemd/system/backupmxd.service
	@# the monitoring plugin (backupmx path substituted) and its Icinga 2/Nagios examples
	install -d $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(PREFIX)/share/doc/backupmx/examples/monitoring
	sed 's|^BACKUPMX_DEFAULT=.*|BACKUPMX_DEFAULT=$(PREFIX)/bin/backupmx|' plugins/check_backupmx > $(DESTDIR)$(PLUGINDIR)/check_backupmx.tmp
	chmod 0755 $(DESTDIR)$(PLUGINDIR)/check_backupmx.tmp
	mv -f $(DESTDIR)$(PLUGINDIR)/check_backupmx.tmp $(DESTDIR)$(PLUGINDIR)/check_backupmx
	install -m 0644 man/check_backupmx.8 $(DESTDIR)$(PREFIX)/share/man/man8/check_backupmx.8
	install -m 0644 etc/monitoring/icinga2-backupmx.conf etc/monitoring/nagios-backupmx.cfg $(DESTDIR)$(PREFIX)/share/doc/backupmx/examples/monitoring/
	@# the Prometheus alert rules, an example to copy into Prometheus' rule_files
	install -d $(DESTDIR)$(PREFIX)/share/doc/backupmx/examples/prometheus
	install -m 0644 etc/prometheus/backupmx-alerts.yml $(DESTDIR)$(PREFIX)/share/doc/backupmx/examples/prometheus/
	@# bash completion of backupmx (etc/bash-completion/backupmx), where bash-completion looks
	install -d $(DESTDIR)/usr/share/bash-completion/completions
	install -m 0644 etc/bash-completion/backupmx $(DESTDIR)/usr/share/bash-completion/completions/backupmx

# Removes what install put there, except the configuration and the spool.
.PHONY: uninstall
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/backupmx $(DESTDIR)$(PREFIX)/sbin/backupmxd
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/backupmx.1
	rm -f $(DESTDIR)$(PREFIX)/share/man/man5/backupmx.conf.5
	rm -f $(DESTDIR)$(PREFIX)/share/man/man8/backupmxd.8
	rm -f $(DESTDIR)/lib/systemd/system/backupmxd.service
	rm -f $(DESTDIR)$(PLUGINDIR)/check_backupmx $(DESTDIR)$(PREFIX)/share/man/man8/check_backupmx.8
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/backupmx/examples/monitoring
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/backupmx/examples/prometheus
	rm -f $(DESTDIR)/usr/share/bash-completion/completions/backupmx

clean:
	rm -rf build

# The Debian package (debian/, docs/INSTALL.md), built from a copy of the tree.
.PHONY: deb
deb:
	scripts/deb

-include $(shell find build -name '*.d' -type f 2>/dev/null)
