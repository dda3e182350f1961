/* Probe attachment: see attach.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "log.h"
#include "pymemtrace.skel.h"
#include "uprobe_multi.h"

static struct bpf_program *prog_for(struct pymemtrace_bpf *skel, enum plan_prog prog)
{
	switch (prog) {
	case PLAN_USDT_GC_START:   return skel->progs.usdt_gc_start;
	case PLAN_USDT_GC_DONE:    return skel->progs.usdt_gc_done;
	case PLAN_GC_ENTRY:        return skel->progs.uprobe_gc_entry;
	case PLAN_GC_RETURN:       return skel->progs.uretprobe_gc_return;
	case PLAN_ARENA_ALLOC:     return skel->progs.uprobe_arena_alloc;
	case PLAN_ARENA_ALLOC_RET: return skel->progs.uretprobe_arena_alloc;
	case PLAN_ARENA_FREE:      return skel->progs.uprobe_arena_free;
	case PLAN_ARENA_MMAP_CALL: return skel->progs.uprobe_arena_mmap_call;
	case PLAN_ALLOC_ENTRY:     return skel->progs.uprobe_alloc_entry;
	case PLAN_ALLOC_RETURN:    return skel->progs.uretprobe_alloc_return;
	case PLAN_FREE:            return skel->progs.uprobe_free;
	case PLAN_LTO_SITES:
	case PLAN_LTO_NEWPOOL:     return skel->progs.uprobe_lto;
	}
	return NULL;
}

static bool is_retprobe(enum plan_prog prog)
{
	return prog == PLAN_GC_RETURN || prog == PLAN_ARENA_ALLOC_RET || prog == PLAN_ALLOC_RETURN;
}

static struct bpf_link *attach_one(struct pymemtrace_bpf *skel, const struct plan *plan,
				   const struct plan_probe *pp)
{
	struct bpf_program *prog = prog_for(skel, pp->prog);
	const struct interp *in = &plan->interp;

	if (pp->prog == PLAN_USDT_GC_START || pp->prog == PLAN_USDT_GC_DONE) {
		/* libbpf parses the notes itself, computes ref_ctr_offset for
		 * the semaphore and decodes the argument specs. */
		const char *name = pp->prog == PLAN_USDT_GC_START ? "gc__start" : "gc__done";

		return bpf_program__attach_usdt(prog, in->pid, in->open_path, "python", name, NULL);
	} else {
		LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = is_retprobe(pp->prog),
			    .bpf_cookie = pp->cookie);

		return bpf_program__attach_uprobe_opts(prog, in->pid, pp->path, pp->file_offset,
						       &opts);
	}
}

unsigned attach__process(struct pymemtrace_bpf *skel, const struct plan *plan,
			 struct proc_links *links, struct probe_status *st, unsigned max,
			 unsigned *n_st)
{
	unsigned failed = 0, n = 0;

	memset(links, 0, sizeof(*links));
	for (unsigned i = 0; i < plan->n_probes && n < max; i++) {
		const struct plan_probe *pp = &plan->probes[i];
		struct probe_status *s = &st[n++];
		struct bpf_link *link;

		memset(s, 0, sizeof(*s));
		snprintf(s->name, sizeof(s->name), "%s", pp->name);
		snprintf(s->how, sizeof(s->how), "%s", pp->how);
		snprintf(s->reason, sizeof(s->reason), "%s", pp->reason);
		if (!pp->available)
			continue;
		if (pp->prog == PLAN_LTO_SITES || pp->prog == PLAN_LTO_NEWPOOL) {
			int fd = pp->prog == PLAN_LTO_SITES
				? uprobe_multi__attach(skel->progs.uprobe_lto, pp->path, plan->interp.pid,
						       plan->lto.offsets, plan->lto.cookies,
						       plan->lto.n, false)
				: uprobe_multi__attach(skel->progs.uprobe_lto, pp->path, plan->interp.pid,
						       &pp->file_offset, &pp->cookie, 1, true);

			if (fd < 0 || links->n_fds >= sizeof(links->fds) / sizeof(links->fds[0])) {
				failed++;
				fmt_msg(s->reason, sizeof(s->reason), "attach failed: %s (uprobe_multi "
					"needs Linux 6.6+)", strerror(fd < 0 ? -fd : ENOSPC));
				if (fd >= 0)
					close(fd);
				continue;
			}
			links->fds[links->n_fds++] = fd;
			links->n_sites += pp->prog == PLAN_LTO_SITES ? plan->lto.n : 1;
			s->attached = true;
			continue;
		}
		link = attach_one(skel, plan, pp);
		if (!link) {
			int err = -errno;

			failed++;
			fmt_msg(s->reason, sizeof(s->reason), "attach failed: %s (%s)",
				strerror(-err), pp->reason);
			pr_warn("pid %d: cannot attach %s (%s): %s", (int)plan->interp.pid,
				pp->name, pp->how, strerror(-err));
			continue;
		}
		s->attached = true;
		links->links[links->n++] = link;
		links->n_sites++;
		pr_debug("pid %d: attached %s: %s", (int)plan->interp.pid, pp->name, pp->how);
	}
	*n_st = n;
	return failed;
}

unsigned attach__detach_process(struct proc_links *links)
{
	unsigned n = links->n_sites;

	for (unsigned i = 0; i < links->n; i++)
		bpf_link__destroy(links->links[i]);
	links->n = 0;
	for (unsigned i = 0; i < links->n_fds; i++)
		close(links->fds[i]);
	links->n_fds = 0;
	links->n_sites = 0;
	return n;
}

int attach__global(struct pymemtrace_bpf *skel, char *err, size_t errlen)
{
	struct {
		struct bpf_program *prog;
		struct bpf_link **link;
		const char *tp;
	} hooks[] = {
		{ skel->progs.raw_sys_enter, &skel->links.raw_sys_enter, "sys_enter" },
		{ skel->progs.raw_sys_exit, &skel->links.raw_sys_exit, "sys_exit" },
		{ skel->progs.raw_process_exit, &skel->links.raw_process_exit, "sched_process_exit" },
		{ skel->progs.raw_process_exec, &skel->links.raw_process_exec, "sched_process_exec" },
	};

	for (unsigned i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		*hooks[i].link = bpf_program__attach_raw_tracepoint(hooks[i].prog, hooks[i].tp);
		if (!*hooks[i].link) {
			int ret = -errno;

			fmt_msg(err, errlen, "cannot attach raw tracepoint '%s': %s", hooks[i].tp,
				strerror(-ret));
			return ret;
		}
	}
	return 0;
}

unsigned attach__detach_global(struct pymemtrace_bpf *skel)
{
	struct bpf_link **links[] = {
		&skel->links.raw_sys_enter, &skel->links.raw_sys_exit,
		&skel->links.raw_process_exit, &skel->links.raw_process_exec,
	};
	unsigned n = 0;

	for (unsigned i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		if (!*links[i])
			continue;
		bpf_link__destroy(*links[i]);
		*links[i] = NULL; /* or the skeleton would destroy it again */
		n++;
	}
	return n;
}

struct bpf_link *attach__hold(struct pymemtrace_bpf *skel, pid_t pid, const char *path,
			      uint64_t off)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts);

	skel->bss->hold_tgid = (__u32)pid;
	return bpf_program__attach_uprobe_opts(skel->progs.uprobe_hold_at_entry, pid, path, off,
					       &opts);
}
