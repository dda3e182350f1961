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

/* ---- gc-offsets PID|PATH: the heap census's GC layout ------------------------------- */

static int cmd_gc_offsets(int argc, char **argv)
{
	struct py_gc_layout l;
	struct interp in;
	char why[256];

	if (argc != 2)
		return usage_err(argv, "PID|PATH");
	if (open_interp(argv[1], &in))
		return 1;
	if (pyoffsets__gc_layout(&in, &l, why, sizeof(why))) {
		printf("unsupported: %s\n", why);
		interp__release(&in);
		return 1;
	}
	/* one "name value" line per field, named as in the C headers */
	printf("source %s\n", l.source);
	printf("interpreters.head %u\n", l.rt_interp);
	printf("interp.next %u\n", l.interp_next);
	printf("%s %u\n", l.gc_in_runtime ? "runtime.gc" : "interp.gc", l.gc_state);
	printf("gc.generations %u\ngc_generation %u\ngc.permanent_generation %u\n",
	       l.gc_generations, l.gc_generation_size, l.gc_permanent);
	printf("PyGC_Head %u\nob_type %u\nob_size %u\n", l.gc_head_size, l.ob_type, l.ob_size);
	printf("tp_name %u\ntp_basicsize %u\ntp_itemsize %u\ntp_flags %u\n", l.tp_name,
	       l.tp_basicsize, l.tp_itemsize, l.tp_flags);
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
	bool no_tss;        /* -T: as under a C library whose TSS layout is unknown */
};

static int parse_stack_opts(int argc, char **argv, struct stack_opts *o)
{
	long pid;
	int c;

	o->symbol = "PyImport_ImportModuleLevelObject";
	o->go = NULL;
	o->count = 1;
	o->seconds = 10;
	o->no_tss = false;
	optind = 1;
	while ((c = getopt(argc, argv, "s:n:g:t:T")) != -1) {
		if (c == 'T')
			o->no_tss = true;
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
		return usage_err(argv, "PID [-s SYMBOL] [-n COUNT] [-g GOFILE] [-t SECONDS] [-T]");
	if (open_interp(argv[optind], &in))
		return 1;
	if (pyoffsets__fill(&in, &off, why, sizeof(why))) {
		fprintf(stderr, "pystack: %s\n", why);
		goto out;
	}
	if (o.no_tss)
		off.tls_keys = 0; /* no key is valid: the TSS slot is never found */
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

/* ---- pysym-fake: pysym against a fake 3.11 target ------------------------------ */

/* A fake address space: a few regions of bytes. */
#define FAKE_REGIONS 8
struct fake_mem {
	struct {
		uint64_t addr;
		uint8_t bytes[8192];
		size_t len;
	} r[FAKE_REGIONS];
	unsigned n;
};

static int fake_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct fake_mem *m = ctx;

	for (unsigned i = 0; i < m->n; i++)
		if (addr >= m->r[i].addr && addr - m->r[i].addr <= m->r[i].len &&
		    len <= m->r[i].len - (addr - m->r[i].addr)) {
			memcpy(buf, m->r[i].bytes + (addr - m->r[i].addr), len);
			return 0;
		}
	return -EFAULT;
}

static uint8_t *fake_region(struct fake_mem *m, uint64_t addr, size_t len)
{
	unsigned i = m->n++;

	m->r[i].addr = addr;
	m->r[i].len = len;
	memset(m->r[i].bytes, 0, sizeof(m->r[i].bytes));
	return m->r[i].bytes;
}

static void put(uint8_t *b, uint32_t off, const void *v, size_t len)
{
	memcpy(b + off, v, len);
}

/* A compact str object at addr: kind 1 ASCII when every code point is < 128.
 * `length` may lie (hostile), and state may be forced (state_or). */
static void fake_str(struct fake_mem *m, const struct py_layout *l, uint64_t addr,
		     const uint32_t *cps, size_t n, int64_t length, uint32_t state_or)
{
	uint32_t maxc = 0, kind, state;
	uint8_t *b = fake_region(m, addr, sizeof(m->r[0].bytes));
	size_t data;

	for (size_t i = 0; i < n; i++)
		maxc = cps[i] > maxc ? cps[i] : maxc;
	kind = maxc < 256 ? 1 : maxc < 65536 ? 2 : 4;
	state = kind << PY_STATE_KIND_SHIFT | PY_STATE_COMPACT | (maxc < 128 ? PY_STATE_ASCII : 0);
	state |= state_or;
	data = maxc < 128 ? l->str_ascii_data : l->str_compact_data;
	put(b, l->str_length, &length, 8);
	put(b, l->str_state, &state, 4);
	for (size_t i = 0; i < n; i++)
		memcpy(b + data + i * kind, &cps[i], kind);  /* little-endian */
}

static void fake_ascii(struct fake_mem *m, const struct py_layout *l, uint64_t addr,
		       const char *s)
{
	uint32_t cps[64];
	size_t n = strlen(s);

	for (size_t i = 0; i < n && i < 64; i++)
		cps[i] = (unsigned char)s[i];
	fake_str(m, l, addr, cps, n < 64 ? n : 64, (int64_t)(n < 64 ? n : 64), 0);
}

enum {
	F_CODE = 0x10000, F_FILE = 0x20000, F_QUAL = 0x30000, F_NAME = 0x40000,
	F_TABLE = 0x50000, F_OTHER = 0x60000, F_BADCP = 0x70000, F_HUGE = 0x80000,
	F_UNMAPPED = 0x90000, F_TYPE = 0x9000,
};

struct fake_code {
	uint64_t type, file, name, qual, table;
	int32_t argcount, flags, firstlineno;
};

static void fake_code_write(uint8_t *b, const struct py_layout *l, const struct fake_code *c)
{
	put(b, l->ob_type, &c->type, 8);
	put(b, l->co_filename, &c->file, 8);
	put(b, l->co_name, &c->name, 8);
	put(b, l->co_qualname, &c->qual, 8);
	put(b, l->co_linetable, &c->table, 8);
	put(b, l->co_argcount, &c->argcount, 4);
	put(b, l->co_flags, &c->flags, 4);
	put(b, l->co_firstlineno, &c->firstlineno, 4);
}

static void show_frame(struct pysym *ps, uint64_t code, uint32_t off, const char *what)
{
	struct py_frame_info fi;
	struct pysym_stats st;
	int err = pysym__frame(ps, code, off, &fi);

	pysym__stats(ps, &st);
	if (err) {
		printf("%s: error %s", what, strerror(-err));
	} else {
		printf("%s: %s:%d %s", what, fi.file, fi.line, fi.function);
		free(fi.file);
		free(fi.function);
	}
	printf(" (hits=%llu misses=%llu stale=%llu)\n", (unsigned long long)st.hits,
	       (unsigned long long)st.misses, (unsigned long long)st.stale);
}

static int cmd_pysym_fake(int argc, char **argv)
{
	/* "Klass.méthode_Ω" (kind 2) and "naïve" (kind 1, not ASCII) */
	static const uint32_t qual[] = { 'K', 'l', 'a', 's', 's', '.', 'm', 0xe9, 't', 'h', 'o',
					 'd', 'e', '_', 0x3a9 };
	static const uint32_t name[] = { 'n', 'a', 0xef, 'v', 'e' };
	static const uint32_t emoji[] = { 'x', 0x1f600, 0xd800, 0x110000 };
	/* 3.11 location table: 1 unit at line first+2, 2 units at first+3 */
	static const uint8_t table[] = { 0x80 | 13 << 3 | 0, 0x04, 0x80 | 13 << 3 | 1, 0x02 };
	struct fake_code c = { F_TYPE, F_FILE, F_NAME, F_QUAL, F_TABLE, 2, 3, 10 };
	static struct fake_mem m;
	struct py_layout l;
	struct pysym *ps;
	uint8_t *code, *t;
	int64_t tlen = sizeof(table);

	if (argc != 1)
		return usage_err(argv, "");
	m.n = 0;
	pyoffsets__table(311, &l);
	l.code_type = F_TYPE;
	code = fake_region(&m, F_CODE, 256);
	fake_code_write(code, &l, &c);
	fake_ascii(&m, &l, F_FILE, "/src/app.py");
	fake_str(&m, &l, F_QUAL, qual, 15, 15, 0);
	fake_str(&m, &l, F_NAME, name, 5, 5, 0);
	t = fake_region(&m, F_TABLE, 64);
	put(t, l.bytes_size, &tlen, 8);
	put(t, l.bytes_data, table, sizeof(table));
	ps = pysym__new_reader(&l, fake_read, &m);
	if (!ps)
		return 1;

	show_frame(ps, F_CODE, 0, "first");
	show_frame(ps, F_CODE, 4, "again");
	show_frame(ps, F_CODE, 6, "past-end");
	/* the name's bytes change but no checksum field does: still cached */
	fake_ascii(&m, &l, F_FILE, "/src/changed.py");
	m.n--;  /* fake_ascii appended a region; overwrite the first one instead */
	memcpy(m.r[1].bytes, m.r[m.n].bytes, sizeof(m.r[1].bytes));
	show_frame(ps, F_CODE, 0, "cached");
	/* the address is reused by another code object */
	fake_ascii(&m, &l, F_OTHER, "other_function");
	c.qual = F_OTHER;
	c.firstlineno = 20;
	fake_code_write(code, &l, &c);
	show_frame(ps, F_CODE, 0, "reused");
	/* a kind-1 string that is not ASCII */
	c.qual = F_NAME;
	fake_code_write(code, &l, &c);
	show_frame(ps, F_CODE, 0, "kind1");
	/* hostile strings: lying length, bad kind, invalid code points, unreadable */
	fake_str(&m, &l, F_BADCP, emoji, 4, 4, 0);
	c.qual = F_BADCP;
	fake_code_write(code, &l, &c);
	show_frame(ps, F_CODE, 0, "invalid-cp");
	fake_str(&m, &l, F_HUGE, emoji, 1, (int64_t)1 << 40, 0);
	c.qual = F_HUGE;
	fake_code_write(code, &l, &c);
	show_frame(ps, F_CODE, 0, "huge-length");
	c.qual = F_UNMAPPED;  /* unmapped */
	c.file = F_NAME + 3;        /* not a str header */
	fake_code_write(code, &l, &c);
	show_frame(ps, F_CODE, 0, "unreadable");
	c.type = F_TYPE + 8;        /* no longer a code object */
	fake_code_write(code, &l, &c);
	show_frame(ps, F_CODE, 0, "not-code");
	show_frame(ps, 0x777000, 0, "unmapped");
	pysym__free(ps);
	return 0;
}

const struct tool_cmd pystack_cmds[] = {
	{ "linetable", "MM FIRSTLINENO HEXTABLE CODE_LEN: line of every instruction", cmd_linetable },
	{ "pyoffsets", "PID|PATH: the struct layout used for Python stacks", cmd_pyoffsets },
	{ "gc-offsets", "PID|PATH: the GC layout the heap census uses", cmd_gc_offsets },
	{ "pystack", "PID [-s SYM] [-n N] [-g GOFILE] [-t S] [-T]: N Python stacks at uprobe SYM (-T: no TSS slot)",
	  cmd_pystack },
	{ "pysym-fake", "pysym's cache and string decoding on a fake 3.11 target", cmd_pysym_fake },
	{ NULL, NULL, NULL },
};
