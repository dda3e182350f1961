# libFuzzer harnesses (included by the Makefile).  `make fuzz FUZZ_SECONDS=N`
# builds tests/fuzz/fuzz_*.c against the parsers, all under ASan+UBSan, into
# build-fuzz/, makes seed corpora from the interpreters on this machine
# (tools/fuzz-seeds.sh) and runs each harness for N seconds (tools/run-fuzz.sh).
# A crash, a sanitizer report or a leak fails the run.

FUZZ_OUT     := build-fuzz
FUZZ_OBJ     := $(FUZZ_OUT)/obj
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 10
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	-Wall -Wextra -Wno-unused-parameter -Werror -std=gnu11 -D_GNU_SOURCE
# Every parser of target-controlled bytes, and what they need to link.
FUZZ_PARSERS := elf procmaps procstat pyversion numparse linetable usdt_args x86_decode \
	probe_site pysym pyoffsets interp mapped_elf remote_mem lto_sites log
FUZZ_PARSER_OBJS := $(patsubst %,$(FUZZ_OBJ)/%.o,$(FUZZ_PARSERS))
FUZZ_HARNESSES := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(patsubst %,$(FUZZ_OUT)/%,$(FUZZ_HARNESSES))

.PHONY: fuzz fuzz-build

$(FUZZ_OBJ):
	$(Q)mkdir -p $@

$(FUZZ_OBJ)/%.o: user/%.c | $(FUZZ_OBJ)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_OBJ)/h-%.o: tests/fuzz/%.c | $(FUZZ_OBJ)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(FUZZ_CC) $(CPPFLAGS) -iquote tests/fuzz $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_OUT)/fuzz_%: $(FUZZ_OBJ)/h-fuzz_%.o $(FUZZ_PARSER_OBJS)
	$(call msg,FUZZ-LD,$@)
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) $^ -lelf -lz -lcapstone -o $@

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	tools/run-fuzz.sh $(FUZZ_OUT) $(FUZZ_SECONDS) $(FUZZ_HARNESSES)

-include $(wildcard $(FUZZ_OBJ)/*.d)
