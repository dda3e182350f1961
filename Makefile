# pymemtrace build.  `make` builds build/pymemtrace; `make V=1` shows commands.
# Every intermediate lives under build/.  Header dependencies come from -MMD -MP
# (for both the BPF object and the user objects), never from $(wildcard *.h).

OUT        := build
OBJ        := $(OUT)/obj
CLANG      ?= clang
BPFTOOL    ?= bpftool
LLVM_STRIP ?= llvm-strip
CC         ?= cc
ARCH       := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

CFLAGS     ?= -O2 -g
CFLAGS     += -Wall -Wextra -Wno-unused-parameter -Werror -std=gnu11 -D_GNU_SOURCE
CPPFLAGS   += -iquote bpf -iquote user -iquote tests/helper -I$(OUT)
LDLIBS     += -lbpf -lelf -lz -lcapstone -lncursesw -ltinfo -lmicrohttpd
EXTRA_CFLAGS ?=
EXTRA_LDFLAGS ?=

# clang's own system include dirs, so that asm/types.h etc. resolve for -target bpf
CLANG_BPF_SYS_INCLUDES := $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')

BPF_SRCS   := bpf/pymemtrace.bpf.c
USER_SRCS  := $(filter-out user/fuzz_%.c,$(wildcard user/*.c))
USER_OBJS  := $(patsubst user/%.c,$(OBJ)/%.o,$(USER_SRCS))
LIB_OBJS   := $(filter-out $(OBJ)/main.o,$(USER_OBJS))
TESTTOOL   := $(OUT)/pmt-test-tool
HELPER_SRCS := $(wildcard tests/helper/*.c)
HELPER_OBJS := $(patsubst tests/helper/%.c,$(OBJ)/helper-%.o,$(HELPER_SRCS))

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.PHONY: all clean vmlinux test check asan asan-build demo deps unit bench
.DELETE_ON_ERROR:
.SECONDARY:

all: $(OUT)/pymemtrace $(TESTTOOL)

$(OUT) $(OBJ):
	$(Q)mkdir -p $@

# ---- BPF side ---------------------------------------------------------------
$(OBJ)/pymemtrace.bpf.o: bpf/pymemtrace.bpf.c | $(OBJ)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ibpf $(CLANG_BPF_SYS_INCLUDES) \
		-MMD -MP -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(OUT)/pymemtrace.skel.h: $(OBJ)/pymemtrace.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name pymemtrace_bpf > $@

# ---- user side --------------------------------------------------------------
# Objects that include the generated skeleton need it before their first build;
# after that, -MMD records the dependency.
SKEL_USERS := $(OBJ)/attach.o $(OBJ)/session.o $(OBJ)/main.o $(OBJ)/trap_cost.o
$(SKEL_USERS): | $(OUT)/pymemtrace.skel.h

$(OBJ)/%.o: user/%.c | $(OBJ)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(EXTRA_CFLAGS) -MMD -MP -c $< -o $@

$(OBJ)/helper-%.o: tests/helper/%.c | $(OBJ)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(EXTRA_CFLAGS) -MMD -MP -c $< -o $@

$(OUT)/pymemtrace: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(EXTRA_CFLAGS) $(EXTRA_LDFLAGS) $^ $(LDLIBS) -o $@

$(TESTTOOL): $(HELPER_OBJS) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(EXTRA_CFLAGS) $(EXTRA_LDFLAGS) $^ $(LDLIBS) -o $@

-include $(wildcard $(OBJ)/*.d)
# Extra rules for test harnesses (e.g. a BPF program only the tests use).
-include tests/helper/helper.mk
# libFuzzer harnesses: make fuzz (build-fuzz/).
include tests/fuzz/fuzz.mk

# ---- helpers ----------------------------------------------------------------
# Regenerate the committed vmlinux.h from this machine's BTF.
vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux.h

deps:
	tools/install-deps.sh

# The README's two commands.  Both install what they need first.
demo: deps
	$(MAKE) all
	tools/run-demo.sh

# make test: the suite, the suite again under ASan+UBSan, a short fuzz pass,
# one summary line (tests/run-all.sh).  A failed build still reaches the
# summary, as that pass failing.
test: deps
	-$(MAKE) all
	-$(MAKE) asan-build
	tests/run-all.sh

# The quick run: the suite against build/ only.
check: deps
	$(MAKE) all
	tests/run-tests.sh

# The sanitizer build: build-asan/, ASan+UBSan, every report fatal.
ASAN_OUT   := build-asan
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
asan-build:
	$(MAKE) OUT=$(ASAN_OUT) EXTRA_CFLAGS="$(ASAN_FLAGS)" EXTRA_LDFLAGS="$(ASAN_FLAGS)" all

# The whole suite against it (tests that cannot run under ASan skip).
asan: deps asan-build
	PMT_ASAN=1 PMT_BUILD=$(ASAN_OUT) PMT_TEST_OUT=tests/out/asan tests/run-tests.sh

unit: all
	bats tests/10-unit.bats

bench: all
	tools/bench

clean:
	rm -rf $(OUT) $(ASAN_OUT) $(FUZZ_OUT)
