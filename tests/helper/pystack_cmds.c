/* Subcommands of pmt-test-tool for Python stacks (see tool.h):
 *   linetable   user/linetable.c on one table, every instruction offset
 *   pyoffsets   the layout user/pyoffsets.c picks for a process or file
 *   pystack     the BPF walker for real: a uprobe on a live process, each
 *               stack resolved with user/pysym.c
 *   pysym-fake  pysym's cache against a fake target (address reuse, strings)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tool.h"
#include "interp.h"
#include "linetable.h"
#include "pyoffsets.h"
#include "pysym.h"
#include "pystack_probe.skel.h"

static int usage_err(char **argv, const char *usage)
{
	fprintf(stderr, "usage: pmt-test-tool %s %s\n", argv[0], usage);
	return 2;
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 0);
	return !*s || *end || errno || *out < min || *out > max ? -EINVAL : 0;
}

/* ---- linetable MM FIRSTLINENO HEX CODE_LEN ------------------------------------ */

static int hex_decode(const char *hex, uint8_t **out, size_t *len)
{
	size_t n = strlen(hex);
	unsigned v;

	if (n % 2)
		return -EINVAL;
	*out = malloc(n / 2 + 1);
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < n / 2; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
			free(*out);
			return -EINVAL;
		}
		(*out)[i] = (uint8_t)v;
	}
	*len = n / 2;
	return 0;
}

static int cmd_linetable(int argc, char **argv)
{
	const char *u = "MM FIRSTLINENO HEXTABLE CODE_LEN  (prints 'offset line' per instruction)";
	long mm, first, code_len;
	uint8_t *t;
	size_t len;
	int line, err;

	if (argc != 5 || parse_long(argv[1], 0, 10000, &mm) ||
	    parse_long(argv[2], 0, 0x7fffffff, &first) ||
	    parse_long(argv[4], 0, 1 << 26, &code_len) || hex_decode(argv[3], &t, &len))
		return usage_err(argv, u);
	for (long off = 0; off < code_len; off += 2) {
		err = linetable_line((int)mm, t, len, (int)first, (uint32_t)off, &line);
		if (err)
			printf("%ld error %s\n", off, strerror(-err));
		else
			printf("%ld %d\n", off, line);
	}
	free(t);
	return 0;
}

/* ---- pyoffsets PID|PATH ----------------------------------------------------------- */

static int open_interp(const char *arg, struct interp *in)
{
	char err[512] = "";
	long pid;
	int rc;

	if (!parse_long(arg, 1, 0x7fffffff, &pid))
		rc = interp__find((pid_t)pid, in, err, sizeof(err));
	else
		rc = interp__find_file(arg, in, err, sizeof(err));
	if (rc)
		fprintf(stderr, "cannot identify the interpreter of '%s': %s\n", arg, err);
	return rc;
}

static int cmd_pyoffsets(int argc, char **argv)
{
	struct pmt_pyoffsets o;
	struct py_layout l;
	struct interp in;
	char why[256], cross[2048];
	int n;

	if (argc != 2)
		return usage_err(argv, "PID|PATH");
	if (open_interp(argv[1], &in))
		return 1;
	if (pyoffsets__layout(&in, &l, why, sizeof(why)) ||
	    pyoffsets__fill(&in, &o, why, sizeof(why))) {
		printf("unsupported: %s\n", why);
		interp__release(&in);
		return 1;
	}
	printf("version: %s\nsource: %s\n", in.version_str, l.source);
	printf("tstate_from: %s\n", o.tstate_from == PMT_TSTATE_GILSTATE ? "gilstate" : "tss");
	printf("frame_kind: %s\n", o.frame_kind == PMT_FRAME_OBJECT ? "object" : "interp");
	printf("tstate_frame: %u\nframe_back: %u\nframe_code: %u\nframe_instr: %u\n",
	       o.tstate_frame, o.frame_back, o.frame_code, o.frame_instr);
	n = pyoffsets__cross_check(&in, cross, sizeof(cross));
	if (n >= 0)
		printf("debug_offsets_differ: %d\n%s", n, cross);
	interp__release(&in);
	return 0;
}

/* ---- pystack PID [-s SYMBOL] [-n COUNT] [-g GOFILE] [-t SECONDS] ------------------ */

struct stack_run {
	struct pysym *ps;
	long want, got;
};

static void print_flags(__u32 f)
{
	if (!f)
		printf("none");
	if (f & PMT_PYSTACK_TRUNCATED)
		printf("truncated%s", f & ~1u ? "," : "");
	if (f & PMT_PYSTACK_ERROR)
		printf("error%s", f & PMT_PYSTACK_NO_TSTATE ? "," : "");
	if (f & PMT_PYSTACK_NO_TSTATE)
		printf("no_tstate");
}

static int on_stack(void *ctx, void *data, size_t len)
{
	const struct pmt_pystack *s = data;
	struct stack_run *r = ctx;
	struct py_frame_info fi;
	int err;

	if (len < sizeof(*s) || r->got >= r->want)
		return 0;
	printf("stack %ld depth=%u flags=", ++r->got, s->depth);
	print_flags(s->flags);
	printf("\n");
	for (__u32 i = 0; i < s->depth && i < PMT_MAX_PYFRAMES; i++) {
		err = pysym__frame(r->ps, s->frames[i].code, s->frames[i].offset, &fi);
		if (err) {
			printf("  ?:? <code 0x%llx unreadable: %s>\n",
			       (unsigned long long)s->frames[i].code, strerror(-err));
			continue;
		}
		printf("  %s:%d %s\n", fi.file, fi.line, fi.function);
		free(fi.file);
		free(fi.function);
	}
	fflush(stdout);
	return 0;
}

struct stack_opts {
	pid_t pid;
	const char *symbol, *go;
	long count, seconds;
};

static int parse_stack_opts(int argc, char **argv, struct stack_opts *o)
{
	long pid;
	int c;

	o->symbol = "PyImport_ImportModuleLevelObject";
	o->go = NULL;
	o->count = 1;
	o->seconds = 10;
	optind = 1;
	while ((c = getopt(argc, argv, "s:n:g:t:")) != -1) {
		if ((c == 'n' && parse_long(optarg, 1, 1000, &o->count)) ||
		    (c == 't' && parse_long(optarg, 1, 3600, &o->seconds)) || c == '?')
			return -EINVAL;
		if (c == 's')
			o->symbol = optarg;
		if (c == 'g')
			o->go = optarg;
	}
	if (optind + 1 != argc || parse_long(argv[optind], 1, 0x7fffffff, &pid))
		return -EINVAL;
	o->pid = (pid_t)pid;
	return 0;
}

static struct bpf_link *attach_probe(struct pystack_probe_bpf *skel, struct interp *in,
				     const char *symbol)
{
	struct elf_sym sym;
	uint64_t off;
	int err;

	err = interp__symbol(in, symbol, &sym);
	if (!err)
		err = elf_file__vaddr_to_offset(in->elf, sym.vaddr, &off);
	if (err) {
		fprintf(stderr, "pystack: cannot find '%s' in '%s': %s\n", symbol, in->open_path,
			strerror(-err));
		errno = -err;
		return NULL;
	}
	/* the target's pid: breakpoints in that process only */
	return bpf_program__attach_uprobe_opts(skel->progs.pystack_probe, in->pid, in->open_path,
					       off, NULL);
}

static int touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int poll_stacks(struct pystack_probe_bpf *skel, struct stack_run *r, long seconds)
{
	struct ring_buffer *rb;
	struct timespec t0, t;
	int err = 0;

	rb = ring_buffer__new(bpf_map__fd(skel->maps.stacks), on_stack, r, NULL);
	if (!rb)
		return -errno;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (r->got < r->want) {
		err = ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR)
			break;
		err = 0;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= seconds) {
			err = -ETIMEDOUT;
			break;
		}
	}
	ring_buffer__free(rb);
	return err;
}

static int cmd_pystack(int argc, char **argv)
{
	struct pystack_probe_bpf *skel = NULL;
	struct stack_run run = { 0 };
	struct bpf_link *link = NULL;
	struct pmt_pyoffsets off;
	struct stack_opts o;
	struct interp in;
	char why[256];
	__u32 zero = 0;
	int err = 1;

	if (parse_stack_opts(argc, argv, &o))
		return usage_err(argv, "PID [-s SYMBOL] [-n COUNT] [-g GOFILE] [-t SECONDS]");
	if (open_interp(argv[optind], &in))
		return 1;
	if (pyoffsets__fill(&in, &off, why, sizeof(why))) {
		fprintf(stderr, "pystack: %s\n", why);
		goto out;
	}
	run.want = o.count;
	run.ps = pysym__new(&in);
	skel = pystack_probe_bpf__open_and_load();
	if (!run.ps || !skel) {
		fprintf(stderr, "pystack: cannot set up: %s\n", strerror(errno));
		goto out;
	}
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.pyoffsets), &zero, &off, BPF_ANY)) {
		fprintf(stderr, "pystack: cannot store the offsets: %s\n", strerror(errno));
		goto out;
	}
	link = attach_probe(skel, &in, o.symbol);
	if (!link) {
		fprintf(stderr, "pystack: cannot attach to '%s': %s\n", o.symbol, strerror(errno));
		goto out;
	}
	if (o.go && touch(o.go)) {
		fprintf(stderr, "pystack: cannot create '%s': %s\n", o.go, strerror(errno));
		goto out;
	}
	err = poll_stacks(skel, &run, o.seconds);
	if (err)
		fprintf(stderr, "pystack: %ld of %ld stacks: %s\n", run.got, run.want,
			strerror(-err));
	if (skel->bss->lost)
		fprintf(stderr, "pystack: %llu stacks lost\n", (unsigned long long)skel->bss->lost);
	err = err ? 1 : 0;
out:
	bpf_link__destroy(link);
	pystack_probe_bpf__destroy(skel);
	pysym__free(run.ps);
	interp__release(&in);
	return err;
}

const struct tool_cmd pystack_cmds[] = {
	{ "linetable", "MM FIRSTLINENO HEXTABLE CODE_LEN: line of every instruction", cmd_linetable },
	{ "pyoffsets", "PID|PATH: the struct layout used for Python stacks", cmd_pyoffsets },
	{ "pystack", "PID [-s SYM] [-n N] [-g GOFILE] [-t S]: N Python stacks at uprobe SYM",
	  cmd_pystack },
	{ NULL, NULL, NULL },
};
