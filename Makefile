# The two commands: `make demo` and `make test`. Each installs what is missing,
# configures build/ with meson, builds, and runs.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
MESON_OPTS ?=

.PHONY: all deps build demo test test-fast chaos test-asan test-tsan bench compare-dpdk install clean

all: build

deps:
	@tools/install-deps.sh

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

demo: build
	tools/demo.sh $(BUILD)

# The release build's tests, then the same tests under ASan+UBSan, then the
# ring, pool and stage suites under TSan.
test: build
	meson test -C $(BUILD) --print-errorlogs --num-processes 2
	$(MAKE) --no-print-directory test-asan test-tsan

test-fast: build
	meson test -C $(BUILD) --suite fast --print-errorlogs

# The long chaos run of issue 7 (doc/chaos.md): 300 stages killed with SIGKILL
# under numbered traffic; `meson test chaos` is the short one in `make test`.
CHAOS_OPTS ?= --kills 300 --pps 20000
chaos: build
	tests/chaos/chaos.sh $(BUILD) $(CHAOS_OPTS)

$(ASAN_BUILD)/build.ninja: | deps
	CC=clang meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug $(MESON_OPTS)

test-asan: deps $(ASAN_BUILD)/build.ninja
	meson compile -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2 --no-suite perf

$(TSAN_BUILD)/build.ninja: | deps
	CC=clang meson setup $(TSAN_BUILD) -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug \
		-Ddefault_base_virtaddr=0x4000000000 $(MESON_OPTS)

# Threads only: TSan cannot see other processes, so the fork cases run but prove
# nothing here. TSan keeps its shadow where the default base is, so this build
# maps the region low (256 GiB), in the range TSan leaves to applications.
test-tsan: deps $(TSAN_BUILD)/build.ninja
	meson compile -C $(TSAN_BUILD)
	TSAN_OPTIONS=halt_on_error=1 meson test -C $(TSAN_BUILD) --print-errorlogs --num-processes 1 \
		ring pool stage

bench: build
	$(BUILD)/tools/mpdp-bench ring
	$(BUILD)/tools/mpdp-bench mempool
	$(BUILD)/tools/mpdp-bench attach

compare-dpdk: build
	tests/perf/compare-dpdk.sh $(BUILD)

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
