# ghlsync build.
#
#   make               build build/rel/ghlsync (and the simulator, build/rel/hlsim)
#   make test          sanitizer build, private PostgreSQL, every test; ends with "N passed, M failed"
#   make demo          the end-to-end demo (see README.md)
#   make bench         benchmarks (tests/bench/), not part of make test
#   make sdk-check     HighLevel's official JS SDK against the simulator (npm)
#   make deps          install the Debian packages the project needs (apt)
#   make install       PREFIX=/usr/local DESTDIR=
#   make format|lint   clang-format / cppcheck
#   make fuzz          build the libFuzzer targets (clang) under build/fuzz/
#
# Sources are discovered, not listed: sync/*.c and sync/family/*.c (one file per endpoint family)
# are the engine (sync/main.c is the CLI entry point, everything else goes into
# build/*/libghlsync.a), tests/hlsim/*.c is the simulator,
# tests/{unit,integration}/test_*.c are test programs, tests/support/*.c is linked into every
# test program and tool, tests/{toml,tools,bench}/*.c are standalone programs.

PREFIX    ?= /usr/local
DESTDIR   ?=
SANITIZE  ?= 0
CC        ?= cc
PKG_CONFIG ?= pkg-config
V         ?= 0
# V=1 shows full compiler command lines.
ifeq ($(V),1)
Q :=
QCC = $(CC)
QAR = $(AR)
else
Q := @
QCC = @echo "  CC      $<"; $(CC)
QAR = @echo "  AR      $@"; $(AR)
endif

# Debian packages: build libraries, the PostgreSQL server the test harness starts, and tools.
DEB_PKGS := build-essential pkg-config libcurl4-openssl-dev libcjson-dev libpq-dev libuv1-dev \
            libmicrohttpd-dev libssl-dev postgresql postgresql-client pgbouncer curl procps util-linux
PKGS      := libcurl libcjson libpq libuv libmicrohttpd libcrypto
SIM_PKGS  := libmicrohttpd libcjson libcrypto libcurl

# Install missing dependencies on the fly so that a fresh machine needs no manual step.
# The check is cheap (pkg-config plus one glob); apt runs only when something is absent.
ifeq ($(filter deps format lint clean,$(MAKECMDGOALS)),)
HAVE_DEPS := $(shell $(PKG_CONFIG) --exists $(PKGS) $(SIM_PKGS) 2>/dev/null && \
               ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && \
               command -v psql >/dev/null && command -v curl >/dev/null && \
               { command -v pgbouncer || ls /usr/sbin/pgbouncer; } >/dev/null 2>&1 && echo yes)
ifneq ($(HAVE_DEPS),yes)
$(info ghlsync: build dependencies missing, running 'make deps')
DEPS_OUT := $(shell $(MAKE) --no-print-directory deps >&2; echo $$?)
ifneq ($(DEPS_OUT),0)
$(error 'make deps' failed; run it by hand to see why)
endif
endif
endif

ifeq ($(SANITIZE),1)
BUILD    := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT      := -O1
else
BUILD    := build/rel
SANFLAGS :=
OPT      := -O2
endif

VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_REV  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wno-format-nonliteral
CPPFLAGS += -D_GNU_SOURCE -Isync -DGHLSYNC_VERSION='"$(VERSION)"' -DGHLSYNC_REV='"$(GIT_REV)"' \
            -DGHLSYNC_DATADIR='"$(PREFIX)/share/ghlsync"'
CFLAGS   += -std=c11 $(OPT) -g $(WARN) $(SANFLAGS) -MMD -MP
DEP_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
DEP_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lpthread -lm
SIM_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(SIM_PKGS) 2>/dev/null)
SIM_LIBS   := $(shell $(PKG_CONFIG) --libs $(SIM_PKGS) 2>/dev/null) -lpthread -lm
LDFLAGS  += $(SANFLAGS)

# The data directory is compiled in; rebuild when PREFIX changes so that 'make install PREFIX=x'
# after a plain 'make' does not install a binary that looks in the old place.
PREFIX_STAMP := $(BUILD)/prefix.stamp
$(shell mkdir -p $(BUILD) && (echo '$(PREFIX)' | cmp -s - $(PREFIX_STAMP) || echo '$(PREFIX)' >$(PREFIX_STAMP)))

LIB_SRCS   := $(filter-out sync/main.c,$(wildcard sync/*.c sync/family/*.c))
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)
SIM_SRCS   := $(wildcard tests/hlsim/*.c)
SIM_OBJS   := $(SIM_SRCS:%.c=$(BUILD)/%.o)
SUP_SRCS   := $(wildcard tests/support/*.c)
SUP_OBJS   := $(SUP_SRCS:%.c=$(BUILD)/%.o)
TEST_SRCS  := $(wildcard tests/unit/test_*.c tests/integration/test_*.c)
TEST_BINS  := $(foreach s,$(TEST_SRCS),$(BUILD)/tests/$(notdir $(basename $(s))))
TOOL_SRCS  := $(wildcard tests/toml/*.c tests/tools/*.c)
TOOL_BINS  := $(foreach s,$(TOOL_SRCS),$(BUILD)/tools/$(notdir $(basename $(s))))
BENCH_SRCS := $(wildcard tests/bench/*.c)
BENCH_BINS := $(foreach s,$(BENCH_SRCS),$(BUILD)/bench/$(notdir $(basename $(s))))
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)

.PHONY: all tests tools benchbins test demo bench deps install format lint clean fuzz check-format \
        sdk-check

all: $(BUILD)/ghlsync $(if $(SIM_SRCS),$(BUILD)/hlsim)

# Rebuilt from scratch: 'ar rcs' only adds, so an object of a deleted source would linger.
$(BUILD)/libghlsync.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(QAR) rcs $@ $^

$(BUILD)/ghlsync: $(BUILD)/sync/main.o $(BUILD)/libghlsync.a
	@echo "  LD      $@"; $(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)

$(BUILD)/hlsim: $(SIM_OBJS)
	@echo "  LD      $@"; $(CC) $(LDFLAGS) -o $@ $^ $(SIM_LIBS)

$(BUILD)/sync/%.o: sync/%.c $(PREFIX_STAMP)
	@mkdir -p $(@D)
	$(QCC) $(CPPFLAGS) $(CFLAGS) $(DEP_CFLAGS) -c -o $@ $<

$(BUILD)/tests/hlsim/%.o: tests/hlsim/%.c
	@mkdir -p $(@D)
	$(QCC) $(CPPFLAGS) $(CFLAGS) $(SIM_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(QCC) $(CPPFLAGS) -Itests/support $(CFLAGS) $(DEP_CFLAGS) -c -o $@ $<

# Test programs, tools and benchmarks link the engine library and the test support code.
define prog_rule
$(2): $(BUILD)/$(basename $(1)).o $(SUP_OBJS) $(BUILD)/libghlsync.a
	@mkdir -p $$(@D)
	@echo "  LD      $$@"; $$(CC) $$(LDFLAGS) -o $$@ $$^ $$(DEP_LIBS)
endef
$(foreach s,$(TEST_SRCS),$(eval $(call prog_rule,$(s),$(BUILD)/tests/$(notdir $(basename $(s))))))
$(foreach s,$(TOOL_SRCS),$(eval $(call prog_rule,$(s),$(BUILD)/tools/$(notdir $(basename $(s))))))
$(foreach s,$(BENCH_SRCS),$(eval $(call prog_rule,$(s),$(BUILD)/bench/$(notdir $(basename $(s))))))

tests: all $(TEST_BINS) $(TOOL_BINS)
tools: $(TOOL_BINS)
benchbins: all $(BENCH_BINS) $(TOOL_BINS)

test:
	@$(MAKE) --no-print-directory SANITIZE=1 tests
	@BUILD=build/san bash tests/run.sh

demo:
	@$(MAKE) --no-print-directory all
	@BUILD=build/rel bash tests/demo.sh

# HighLevel's official JS SDK against the simulator (needs node, npm and the npm registry).
sdk-check:
	@$(MAKE) --no-print-directory all
	@BUILD=build/rel bash tests/sdk/run.sh

bench:
	@$(MAKE) --no-print-directory benchbins
	@BUILD=build/rel bash tests/bench/run.sh

deps:
	@set -e; \
	if [ "$$(id -u)" -eq 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	else echo "make deps: need root or sudo to install: $(DEB_PKGS)" >&2; exit 1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$SUDO apt-get update -qq; \
	$$SUDO apt-get install -y -qq --no-install-recommends $(DEB_PKGS) >/dev/null; \
	echo "make deps: installed $(DEB_PKGS)" >&2

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/ghlsync/migrations \
	        $(DESTDIR)$(PREFIX)/share/ghlsync/mappings $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BUILD)/ghlsync $(DESTDIR)$(PREFIX)/bin/ghlsync
	install -m 0644 migrations/*.sql $(DESTDIR)$(PREFIX)/share/ghlsync/migrations/ 2>/dev/null || true
	install -m 0644 mappings/* $(DESTDIR)$(PREFIX)/share/ghlsync/mappings/ 2>/dev/null || true
	if [ -f doc/ghlsync.1 ]; then install -m 0644 doc/ghlsync.1 $(DESTDIR)$(PREFIX)/share/man/man1/; fi

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-format:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

lint:
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem -Isync -Itests/support sync tests

fuzz:
	@mkdir -p build/fuzz
	@for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
	  echo "clang $$f -> build/fuzz/$$n"; \
	  clang -std=c11 -g -O1 -D_GNU_SOURCE -Isync -fsanitize=fuzzer,address,undefined \
	    -o build/fuzz/$$n $$f $(LIB_SRCS) $(DEP_CFLAGS) $(DEP_LIBS) || exit 1; done

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
