# Rules for the Python stack walker's test harness (included by the Makefile):
# a BPF object only pmt-test-tool uses, and its skeleton.

PYSTACK_PROBE := tests/helper/bpf/pystack_probe.bpf.c

$(OBJ)/pystack_probe.bpf.o: $(PYSTACK_PROBE) | $(OBJ)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ibpf $(CLANG_BPF_SYS_INCLUDES) \
		-MMD -MP -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(OUT)/pystack_probe.skel.h: $(OBJ)/pystack_probe.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name pystack_probe_bpf > $@

# The first build of pystack_cmds.o needs the skeleton; -MMD records it after.
$(OBJ)/helper-pystack_cmds.o: | $(OUT)/pystack_probe.skel.h
