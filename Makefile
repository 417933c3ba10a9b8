# byokwatch build. Every dependency comes through pkg-config; `make deps`
# installs missing Debian packages and every main target runs it first.

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc
WERROR  ?= -Werror
SAN     ?=

PKGS      := rocksdb jansson libcurl libevent libssl libcrypto
TEST_PKGS := cmocka
BENCH_PKGS := sqlite3

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_REV := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

CFLAGS_BASE := -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -g -O2 \
	-Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 -pthread $(WERROR) $(SAN) \
	-DBW_VERSION='"$(VERSION)"' -DBW_GIT_REV='"$(GIT_REV)"' \
	-DBW_DATADIR='"$(PREFIX)/share/byokwatch"'
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) -lm -pthread
ALL_CFLAGS = $(CFLAGS_BASE) $(PKG_CFLAGS) $(CFLAGS)

LIB_SRC := $(wildcard common/*.c storage/*.c analyzers/*.c alerts/*.c report/*.c) \
	$(filter-out collector/main.c,$(wildcard collector/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB     := $(BUILD)/libbyokwatch.a
BIN     := $(BUILD)/byokwatch

TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BUILD)/bench_store
COLLECTOR_BENCH_BIN := $(BUILD)/bench_collector
RULES_BENCH_BIN := $(BUILD)/bench_rules
SINKS_BENCH_BIN := $(BUILD)/bench_sinks
REPORT_BENCH_BIN := $(BUILD)/bench_report
SIM_SRC  := $(wildcard tests/sim/*.c)
SIM_BIN  := $(BUILD)/bw-sim
RECV_SRC := $(wildcard tests/recv/*.c)
RECV_BIN := $(BUILD)/bw-recv

.PHONY: all deps test asan bench demo install clean lint format check-format

# Fuzzing (tests/fuzz/): one libFuzzer target per parser. `make fuzz` builds
# each with clang into build/fuzz/<target> and runs it for FUZZ_SECONDS on a
# copy of its seed corpus (build/fuzz/corpus-<target>, kept between runs;
# crashes land in build/fuzz/artifacts-<target>/). `make test` links the same
# targets with tests/fuzz/replay.c and the normal flags and replays the seeds.
FUZZ_TARGETS ?= openai anthropic config prices jsonscan
FUZZ_SECONDS ?= 60
FUZZ_ARGS    ?=
FUZZ_CC      ?= clang
FUZZ_PKGS    ?= clang libclang-rt-14-dev
FUZZ_BUILD   := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_HDR     := tests/fuzz/fuzz.h tests/fuzz/fuzz_poller.h
# clang's -Wformat=2 flags common/log.c's vsnprintf wrappers, which gcc accepts.
FUZZ_NOERROR := -Wno-error=format-nonliteral -Wno-error=format-zero-length
FUZZ_BIN     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)
FUZZ_REPLAY_BIN := $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz_replay_%)

.PHONY: fuzz

all: deps
	@$(MAKE) --no-print-directory $(BIN)

deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/obj/collector/main.o $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(BUILD)/tests/%: tests/%.c $(LIB) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags $(TEST_PKGS)) -MMD -MP -o $@ $< $(LIB) \
		$(PKG_LIBS) $(shell pkg-config --libs $(TEST_PKGS)) $(LDFLAGS)

$(SIM_BIN): $(SIM_SRC:%.c=$(BUILD)/obj/%.o) $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(RECV_BIN): $(RECV_SRC:%.c=$(BUILD)/obj/%.o) $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(BENCH_BIN): tests/bench/bench_store.c tests/bench/benchutil.h tests/bench/benchsql.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags $(BENCH_PKGS)) -o $@ $< $(LIB) \
		$(PKG_LIBS) $(shell pkg-config --libs $(BENCH_PKGS)) $(LDFLAGS)

$(RULES_BENCH_BIN): tests/bench/bench_rules.c tests/bench/benchutil.h tests/bench/benchsql.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags $(BENCH_PKGS)) -o $@ $< $(LIB) \
		$(PKG_LIBS) $(shell pkg-config --libs $(BENCH_PKGS)) $(LDFLAGS)

$(REPORT_BENCH_BIN): tests/bench/bench_report.c tests/bench/benchutil.h tests/bench/benchsql.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags $(BENCH_PKGS)) -o $@ $< $(LIB) \
		$(PKG_LIBS) $(shell pkg-config --libs $(BENCH_PKGS)) $(LDFLAGS)

$(SINKS_BENCH_BIN): tests/bench/bench_sinks.c tests/bench/benchutil.h $(LIB) tests/peers.h tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(PKG_LIBS) $(LDFLAGS)

$(COLLECTOR_BENCH_BIN): tests/bench/bench_collector.c $(LIB) tests/simutil.h tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(PKG_LIBS) $(LDFLAGS)

# The corpus replayers run first so that the output ends with cmocka's summary.
test: deps
	@$(MAKE) --no-print-directory $(BIN) $(TEST_BIN) $(FUZZ_REPLAY_BIN) $(if $(SIM_SRC),$(SIM_BIN)) \
		$(if $(RECV_SRC),$(RECV_BIN))
	@rc=0; for t in $(FUZZ_TARGETS); do \
		$(BUILD)/tests/fuzz_replay_$$t tests/fuzz/corpus/$$t || rc=1; \
	done; \
	BW_BIN=$(abspath $(BIN)) BW_SIM=$(abspath $(SIM_BIN)) BW_RECV=$(abspath $(RECV_BIN)) \
		scripts/run-tests.sh $(TEST_BIN) || rc=1; \
	exit $$rc

$(BUILD)/tests/fuzz_replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(LIB) $(FUZZ_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< tests/fuzz/replay.c $(LIB) $(PKG_LIBS) $(LDFLAGS)

# Only in the sub-make below (BUILD=build/fuzz, CC=clang, library built with
# -fsanitize=fuzzer-no-link so libFuzzer sees its coverage).
$(FUZZ_BIN): $(FUZZ_BUILD)/%: tests/fuzz/fuzz_%.c $(LIB) $(FUZZ_HDR)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB) $(PKG_LIBS) $(LDFLAGS)

fuzz: deps
	@scripts/deps.sh $(FUZZ_PKGS)
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) CFLAGS="-O1" \
		WERROR="$(WERROR) $(FUZZ_NOERROR)" SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" $(FUZZ_BIN)
	@rc=0; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus-$$t $(FUZZ_BUILD)/artifacts-$$t && \
		cp tests/fuzz/corpus/$$t/* $(FUZZ_BUILD)/corpus-$$t/ || exit 1; \
		dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
		echo "=== fuzz $$t for $(FUZZ_SECONDS)s"; \
		UBSAN_OPTIONS=print_stacktrace=1 $(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) \
			-timeout=10 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts-$$t/ \
			$$dict $(FUZZ_ARGS) $(FUZZ_BUILD)/corpus-$$t || { rc=1; echo "=== FAILED: fuzz $$t"; }; \
	done; exit $$rc

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		CFLAGS="-O1" build/asan/byokwatch $(TEST_SRC:tests/%.c=build/asan/tests/%) \
		$(if $(SIM_SRC),build/asan/bw-sim) $(if $(RECV_SRC),build/asan/bw-recv)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		BW_BIN=$(abspath build/asan/byokwatch) BW_SIM=$(abspath build/asan/bw-sim) \
		BW_RECV=$(abspath build/asan/bw-recv) \
		scripts/run-tests.sh $(TEST_SRC:tests/%.c=build/asan/tests/%)

demo: deps
	@$(MAKE) --no-print-directory $(BIN) $(SIM_BIN) $(RECV_BIN)
	@scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory $(BENCH_BIN) $(COLLECTOR_BENCH_BIN) $(RULES_BENCH_BIN) \
		$(SINKS_BENCH_BIN) $(REPORT_BENCH_BIN) $(BIN) $(SIM_BIN) $(RECV_BIN)
	$(BENCH_BIN) $(BENCH_ARGS)
	BW_BIN=$(abspath $(BIN)) BW_SIM=$(abspath $(SIM_BIN)) $(COLLECTOR_BENCH_BIN) $(COLLECTOR_BENCH_ARGS)
	$(RULES_BENCH_BIN) $(RULES_BENCH_ARGS)
	BW_RECV=$(abspath $(RECV_BIN)) $(SINKS_BENCH_BIN) $(SINKS_BENCH_ARGS)
	$(REPORT_BENCH_BIN) $(REPORT_BENCH_ARGS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/byokwatch
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/byokwatch
	install -m 0644 conf/byokwatch.example.json conf/prices.json conf/prices.LICENSE \
		conf/prices.SOURCE.md $(DESTDIR)$(PREFIX)/share/byokwatch/

# clang-tidy runs once per file: with several files in one run, clang-tidy 14's
# valist checker reports "uninitialized va_list" after the first (llvm-project#40656).
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --std=c11 -I common $(LIB_SRC) collector/main.c $(SIM_SRC) $(RECV_SRC)
	@rc=0; for f in $(LIB_SRC) collector/main.c $(SIM_SRC) $(RECV_SRC); do \
		echo "clang-tidy $$f"; \
		clang-tidy --quiet $$f -- $(CFLAGS_BASE) $(PKG_CFLAGS) || rc=1; \
	done; exit $$rc

format:
	clang-format -i $(LIB_SRC) collector/main.c $(wildcard */*.h tests/*.c tests/*.h tests/bench/*.c)

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(SIM_SRC:%.c=$(BUILD)/obj/%.d) $(RECV_SRC:%.c=$(BUILD)/obj/%.d) $(BUILD)/obj/collector/main.d $(TEST_BIN:=.d)
