// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Test harness for the Python stack walker (bpf/pystack.bpf.h): one uprobe,
 * attached by `pmt-test-tool pystack` with the target's pid to a function
 * the fixture calls at known lines, walks the stack there and sends it to
 * user space.  The walk goes into a per-CPU array first, as an allocation
 * probe would do it.  Lives in a subdirectory because the Makefile compiles
 * every .c file directly in tests/helper as user code.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "pystack.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pmt_pyoffsets);
} pyoffsets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pmt_pystack);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} stacks SEC(".maps");

__u64 lost = 0;

SEC("uprobe")
int pystack_probe(struct pt_regs *ctx)
{
	__u32 zero = 0;
	const struct pmt_pyoffsets *o = bpf_map_lookup_elem(&pyoffsets, &zero);
	struct pmt_pystack *s = bpf_map_lookup_elem(&scratch, &zero);

	if (!o || !s)
		return 0;
	pmt_pystack_walk(o, s);
	if (bpf_ringbuf_output(&stacks, s, sizeof(*s), 0))
		__sync_fetch_and_add(&lost, 1);
	return 0;
}
