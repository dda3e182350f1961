/* Subcommands of pmt-test-tool for the parsers (see tool.h): ELF symbols and
 * USDT notes, /proc/PID/maps lines, log2 histograms, version numbers,
 * strict decimals.
 * Output is one fact per line, in forms a shell test can compare with what
 * readelf, nm or python print. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <elf.h>
#include "tool.h"
#include "alloc_window.h"
#include "gc_budget.h"
#include "gc_counters.h"
#include "elf.h"
#include "hist.h"
#include "numparse.h"
#include "procmaps.h"
#include "pyversion.h"
#include "pymemtrace.h"

static int usage_err(char **argv, const char *usage)
{
	fprintf(stderr, "usage: pmt-test-tool %s %s\n", argv[0], usage);
	return 2;
}

/* A whole-string unsigned number, decimal or 0x-hex. */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || *end ? -EINVAL : 0;
}

static int bad_number(char **argv, const char *s)
{
	fprintf(stderr, "%s: '%s' is not a number\n", argv[0], s);
	return 2;
}

/* PMT_ELF_OPEN=symbols: through elf_file__open_symbols, as the symbolizer
 * opens files (headers and symbol tables only), to compare with a whole read. */
static struct elf_file *open_elf(char **argv, const char *path)
{
	char err[512];
	const char *how = getenv("PMT_ELF_OPEN");
	struct elf_file *ef = how && !strcmp(how, "symbols") ?
		elf_file__open_symbols(path, err, sizeof(err)) : elf_file__open(path, err, sizeof(err));

	if (!ef)
		fprintf(stderr, "%s: %s (%s)\n", argv[0], err[0] ? err : "cannot open", strerror(errno));
	return ef;
}

static const char *type_name(int t)
{
	static const char *const names[] = { "NOTYPE", "OBJECT", "FUNC", "SECTION", "FILE",
					     "COMMON", "TLS" };

	if (t == STT_GNU_IFUNC)
		return "IFUNC";
	return t >= 0 && t < 7 ? names[t] : "OTHER";
}

static const char *bind_name(int b)
{
	return b == STB_LOCAL ? "LOCAL" : b == STB_GLOBAL ? "GLOBAL" : b == STB_WEAK ? "WEAK" :
	       b == STB_GNU_UNIQUE ? "UNIQUE" : "OTHER";
}

static void print_sym(const struct elf_sym *s)
{
	printf("%s 0x%" PRIx64 " %" PRIu64 " %s %s %s\n", s->name, s->vaddr, s->size,
	       s->source == ELF_SRC_DYNSYM ? "dynsym" : "symtab", type_name(s->type),
	       bind_name(s->bind));
}

static void print_info(struct elf_file *ef)
{
	printf("type %s\n", elf_file__type(ef) == ET_EXEC ? "EXEC" : "DYN");
	printf("size %" PRIu64 "\n", elf_file__size(ef));
	printf("symtab %s\n", elf_file__has_symtab(ef) ? "yes" : "no");
	printf("dynsym %s\n", elf_file__has_dynsym(ef) ? "yes" : "no");
	printf("base 0x%" PRIx64 "\n", elf_file__base_vaddr(ef));
	printf("resident %" PRIu64 "\n", elf_file__resident(ef));
}

static int cmd_elf_info(int argc, char **argv)
{
	struct elf_file *ef;

	if (argc != 2)
		return usage_err(argv, "FILE");
	ef = open_elf(argv, argv[1]);
	if (!ef)
		return 1;
	print_info(ef);
	elf_file__free(ef);
	return 0;
}

/* Same as elf-info, through elf_file__open_mem on the file's bytes. */
static int cmd_elf_info_mem(int argc, char **argv)
{
	struct elf_file *ef;
	char err[512];
	size_t len = 0, cap = 1 << 20, r;
	char *buf = malloc(cap);
	FILE *f;

	if (argc != 2 || !buf) {
		free(buf);
		return usage_err(argv, "FILE");
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		fprintf(stderr, "%s: cannot open '%s': %s\n", argv[0], argv[1], strerror(errno));
		free(buf);
		return 1;
	}
	while ((r = fread(buf + len, 1, cap - len, f)) > 0) {
		len += r;
		if (len == cap) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb)
				break;
			buf = nb;
		}
	}
	fclose(f);
	ef = elf_file__open_mem(buf, len, err, sizeof(err));
	free(buf);
	if (!ef) {
		fprintf(stderr, "%s: %s (%s)\n", argv[0], err, strerror(errno));
		return 1;
	}
	print_info(ef);
	elf_file__free(ef);
	return 0;
}

/* FILE NAME...: one(ef, name) for each name; 1 if any failed (one says why). */
static int each_name(int argc, char **argv, int (*one)(char **argv, struct elf_file *ef,
							const char *name))
{
	struct elf_file *ef;
	int ret = 0;

	if (argc < 3)
		return usage_err(argv, "FILE NAME...");
	ef = open_elf(argv, argv[1]);
	if (!ef)
		return 1;
	for (int i = 2; i < argc; i++)
		ret |= one(argv, ef, argv[i]);
	elf_file__free(ef);
	return ret;
}

static int one_sym(char **argv, struct elf_file *ef, const char *name)
{
	struct elf_sym s;

	if (elf_file__find_symbol(ef, name, &s)) {
		fprintf(stderr, "%s: '%s' not found in '%s'\n", argv[0], name, argv[1]);
		return 1;
	}
	print_sym(&s);
	return 0;
}

static int cmd_elf_sym(int argc, char **argv)
{
	return each_name(argc, argv, one_sym);
}

static int one_import(char **argv, struct elf_file *ef, const char *name)
{
	uint64_t slot;

	if (elf_file__import_slot(ef, name, &slot)) {
		fprintf(stderr, "%s: '%s' is not imported by '%s'\n", argv[0], name, argv[1]);
		return 1;
	}
	printf("%s 0x%" PRIx64 "\n", name, slot);
	return 0;
}

static int cmd_elf_import(int argc, char **argv)
{
	return each_name(argc, argv, one_import);
}

static int print_sym_cb(const struct elf_sym *s, void *ctx)
{
	(void)ctx;
	print_sym(s);
	return 0;
}

static int cmd_elf_syms(int argc, char **argv)
{
	struct elf_file *ef;

	if (argc != 2)
		return usage_err(argv, "FILE");
	ef = open_elf(argv, argv[1]);
	if (!ef)
		return 1;
	elf_file__foreach_symbol(ef, print_sym_cb, NULL);
	elf_file__free(ef);
	return 0;
}

/* The symbolizer's lookup: the function containing each vaddr. */
static int cmd_elf_name(int argc, char **argv)
{
	struct elf_file *ef;
	struct elf_sym sym;
	uint64_t va, off;

	if (argc < 3)
		return usage_err(argv, "FILE VADDR...");
	ef = open_elf(argv, argv[1]);
	if (!ef)
		return 1;
	for (int i = 2; i < argc; i++) {
		if (parse_u64(argv[i], &va)) {
			elf_file__free(ef);
			return bad_number(argv, argv[i]);
		}
		if (elf_file__symbolize(ef, va, &sym, &off))
			printf("0x%" PRIx64 " ?\n", va);
		else
			printf("0x%" PRIx64 " %s+0x%" PRIx64 "\n", va, sym.name, off);
	}
	elf_file__free(ef);
	return 0;
}

static int cmd_elf_offset(int argc, char **argv)
{
	struct elf_file *ef;
	uint64_t va, off;
	int ret;

	if (argc != 3)
		return usage_err(argv, "FILE VADDR");
	if (parse_u64(argv[2], &va))
		return bad_number(argv, argv[2]);
	ef = open_elf(argv, argv[1]);
	if (!ef)
		return 1;
	ret = elf_file__vaddr_to_offset(ef, va, &off);
	if (ret)
		fprintf(stderr, "%s: 0x%" PRIx64 ": %s\n", argv[0], va, strerror(-ret));
	else
		printf("0x%" PRIx64 "\n", off);
	elf_file__free(ef);
	return ret ? 1 : 0;
}

static int cmd_elf_read(int argc, char **argv)
{
	unsigned char buf[4096];
	struct elf_file *ef;
	uint64_t va, len;
	int ret;

	if (argc != 4)
		return usage_err(argv, "FILE VADDR LEN");
	if (parse_u64(argv[2], &va))
		return bad_number(argv, argv[2]);
	if (parse_u64(argv[3], &len) || len > sizeof(buf)) {
		fprintf(stderr, "%s: LEN must be a number up to %zu\n", argv[0], sizeof(buf));
		return 2;
	}
	ef = open_elf(argv, argv[1]);
	if (!ef)
		return 1;
	ret = elf_file__read_vaddr(ef, va, buf, len);
	if (ret) {
		fprintf(stderr, "%s: 0x%" PRIx64 "+%" PRIu64 ": %s\n", argv[0], va, len,
			strerror(-ret));
	} else {
		for (uint64_t i = 0; i < len; i++)
			printf("%02x", buf[i]);
		printf("\n");
	}
	elf_file__free(ef);
	return ret ? 1 : 0;
}

static int cmd_elf_notes(int argc, char **argv)
{
	struct usdt_note *notes;
	struct elf_file *ef;
	size_t n, skipped;
	int ret;

	if (argc != 2)
		return usage_err(argv, "FILE");
	ef = open_elf(argv, argv[1]);
	if (!ef)
		return 1;
	ret = elf_file__usdt_notes(ef, &notes, &n, &skipped);
	if (ret) {
		fprintf(stderr, "%s: '%s': %s\n", argv[0], argv[1], strerror(-ret));
		elf_file__free(ef);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s %s 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 " %s\n", notes[i].provider,
		       notes[i].name, notes[i].pc, notes[i].base, notes[i].semaphore,
		       notes[i].args);
	printf("skipped %zu\n", skipped);
	free(notes);
	elf_file__free(ef);
	return 0;
}

static void print_map(const struct procmap_entry *e)
{
	printf("%" PRIx64 "-%" PRIx64 " %c%c%c%c %" PRIx64 " %x:%x %" PRIu64 " %s [%s]\n",
	       e->start, e->end, e->perms & PM_R ? 'r' : '-', e->perms & PM_W ? 'w' : '-',
	       e->perms & PM_X ? 'x' : '-', e->perms & PM_P ? 'p' : 's', e->offset,
	       e->dev_major, e->dev_minor, e->inode, e->deleted ? "deleted" : "present", e->path);
}

/* FILE, or "-" for stdin. */
/* Prints every entry and the count of bad lines, then releases m. */
static int print_maps(struct procmaps *m, size_t bad)
{
	for (size_t i = 0; i < m->n; i++)
		print_map(&m->v[i]);
	printf("bad %zu\n", bad);
	procmaps__release(m);
	return 0;
}

static int cmd_maps(int argc, char **argv)
{
	struct procmaps m;
	size_t bad = 0;
	FILE *f;
	int ret;

	if (argc != 2)
		return usage_err(argv, "FILE|-");
	f = strcmp(argv[1], "-") ? fopen(argv[1], "r") : stdin;
	if (!f) {
		fprintf(stderr, "%s: cannot open '%s': %s\n", argv[0], argv[1], strerror(errno));
		return 1;
	}
	ret = procmaps__load_file(f, &m, &bad);
	if (f != stdin)
		fclose(f);
	if (ret) {
		fprintf(stderr, "%s: '%s': %s\n", argv[0], argv[1], strerror(-ret));
		return 1;
	}
	return print_maps(&m, bad);
}

static int cmd_maps_line(int argc, char **argv)
{
	static struct procmap_entry e;

	if (argc != 2)
		return usage_err(argv, "LINE");
	if (procmaps__parse_line(argv[1], &e)) {
		fprintf(stderr, "%s: malformed maps line\n", argv[0]);
		return 1;
	}
	print_map(&e);
	return 0;
}

static int cmd_maps_pid(int argc, char **argv)
{
	struct procmaps m;
	uint64_t pid;
	size_t bad = 0;
	int ret;

	if (argc != 2)
		return usage_err(argv, "PID");
	if (parse_u64(argv[1], &pid) || pid > INT32_MAX)
		return bad_number(argv, argv[1]);
	ret = procmaps__load((pid_t)pid, &m, &bad);
	if (ret) {
		fprintf(stderr, "%s: pid %s: %s\n", argv[0], argv[1], strerror(-ret));
		return 1;
	}
	return print_maps(&m, bad);
}

static int cmd_hist_slot(int argc, char **argv)
{
	uint64_t v, nslots = PMT_HIST_SLOTS;
	unsigned s;

	if (argc != 2 && argc != 3)
		return usage_err(argv, "VALUE [NSLOTS]");
	if (parse_u64(argv[1], &v))
		return bad_number(argv, argv[1]);
	if (argc == 3 && (parse_u64(argv[2], &nslots) || nslots > 4096))
		return bad_number(argv, argv[2]);
	s = hist_slot(v, (unsigned)nslots);
	printf("%u %" PRIu64 " %" PRIu64 "\n", s, hist_slot_low(s), hist_slot_high(s));
	return 0;
}

/* Fills a PMT_HIST_SLOTS histogram from the values argv[from..]. */
static int fill_hist(int argc, char **argv, int from, uint64_t *slots)
{
	uint64_t v;

	memset(slots, 0, PMT_HIST_SLOTS * sizeof(*slots));
	for (int i = from; i < argc; i++) {
		if (parse_u64(argv[i], &v))
			return bad_number(argv, argv[i]);
		slots[hist_slot(v, PMT_HIST_SLOTS)]++;
	}
	return 0;
}

static int cmd_hist_quantile(int argc, char **argv)
{
	uint64_t slots[PMT_HIST_SLOTS];
	char *end;
	double q;
	int ret;

	if (argc < 2)
		return usage_err(argv, "Q [VALUE...]");
	q = strtod(argv[1], &end);
	if (*end || end == argv[1])
		return bad_number(argv, argv[1]);
	ret = fill_hist(argc, argv, 2, slots);
	if (ret)
		return ret;
	printf("%" PRIu64 "\n", hist_quantile(slots, PMT_HIST_SLOTS, q));
	return 0;
}

static int cmd_hist_print(int argc, char **argv)
{
	uint64_t slots[PMT_HIST_SLOTS];
	int ret;

	if (argc < 2)
		return usage_err(argv, "UNIT [VALUE...]");
	ret = fill_hist(argc, argv, 2, slots);
	if (ret)
		return ret;
	hist_print(stdout, slots, PMT_HIST_SLOTS, argv[1], "  ");
	return 0;
}

/* Prints a histogram given as slot counts, "SLOT=COUNT" pairs. */
static int cmd_hist_print_slots(int argc, char **argv)
{
	uint64_t slots[PMT_HIST_SLOTS] = { 0 };
	unsigned long s;
	uint64_t c;
	char *end;

	if (argc < 2)
		return usage_err(argv, "UNIT [SLOT=COUNT...]");
	for (int i = 2; i < argc; i++) {
		s = strtoul(argv[i], &end, 10);
		if (end == argv[i] || *end != '=' || s >= PMT_HIST_SLOTS || parse_u64(end + 1, &c))
			return bad_number(argv, argv[i]);
		slots[s] = c;
	}
	hist_print(stdout, slots, PMT_HIST_SLOTS, argv[1], "");
	return 0;
}

static void print_version(const struct pyversion *v)
{
	char buf[32];

	pyversion_format(v, buf, sizeof(buf));
	printf("%s %d %d %d %c %d %d\n", buf, v->major, v->minor, v->micro, v->level, v->serial,
	       pyversion_mm(v));
}

static int cmd_version_hex(int argc, char **argv)
{
	struct pyversion v;
	uint64_t hex;

	if (argc != 2)
		return usage_err(argv, "HEX");
	if (parse_u64(argv[1], &hex))
		return bad_number(argv, argv[1]);
	pyversion_from_hex(hex, &v);
	print_version(&v);
	return 0;
}

static int cmd_version_parse(int argc, char **argv)
{
	struct pyversion v;

	if (argc != 2)
		return usage_err(argv, "STRING");
	if (pyversion_parse(argv[1], &v)) {
		fprintf(stderr, "%s: '%s' is not a version\n", argv[0], argv[1]);
		return 1;
	}
	print_version(&v);
	return 0;
}

/* numparse_dec: "DIGITS VALUE" (digits used, value), or "0". */
static int cmd_num_dec(int argc, char **argv)
{
	uint64_t max, len = SIZE_MAX, v = 0;
	size_t n;

	if (argc != 3 && argc != 4)
		return usage_err(argv, "STRING MAX [LEN]");
	if (parse_u64(argv[2], &max) || (argc == 4 && parse_u64(argv[3], &len)))
		return bad_number(argv, argv[argc - 1]);
	n = numparse_dec(argv[1], len, max, &v);
	if (n)
		printf("%zu %" PRIu64 "\n", n, v);
	else
		printf("0\n");
	return 0;
}

/* numparse_u64: the value, or "rejected". */
static int cmd_num_u64(int argc, char **argv)
{
	uint64_t min, max, v;

	if (argc != 4)
		return usage_err(argv, "STRING MIN MAX");
	if (parse_u64(argv[2], &min) || parse_u64(argv[3], &max))
		return bad_number(argv, argv[2]);
	if (numparse_u64(argv[1], min, max, &v))
		printf("%" PRIu64 "\n", v);
	else
		printf("rejected\n");
	return 0;
}

/* The gaps of the --sampled schedule (alloc_window.h), in ms, one a line. */
static int cmd_window_gaps(int argc, char **argv)
{
	uint64_t window, period, n, seed;
	struct window_clock c;
	double t;

	if (argc != 5 || parse_u64(argv[1], &window) || parse_u64(argv[2], &period) ||
	    parse_u64(argv[3], &n) || parse_u64(argv[4], &seed) || n > 1000000 ||
	    window > 1000000 || period > 1000000)
		return usage_err(argv, "WINDOW_MS PERIOD_MS N SEED");
	window_clock__init(&c, (unsigned)window, (unsigned)period, 0, seed);
	t = c.next_open;
	printf("%.3f\n", t * 1000);
	for (uint64_t i = 1; i < n; i++) {
		double next = window_clock__next(&c, t);

		printf("%.3f\n", (next - t) * 1000);
		t = next;
	}
	return 0;
}

/* --gc-budget's decisions (gc_budget.h) on a simulated target: one busy
 * core, whose GC probes cost SHARE1 of its CPU as measured while armed until
 * T_SWITCH, SHARE2 after, stepped every 100 ms to T_END, charged as the
 * session charges them (GC_BUDGET_CHARGE).  First "charge C", then one line
 * per action: "T arm|disarm|all DUTY SHARE_ALL" (SHARE_ALL charged), then
 * "armed A windows W switches S now all|sampled DUTY SHARE_ALL". */
static int cmd_gc_budget_sim(int argc, char **argv)
{
	double pct, share1, t_switch, share2, t_end, cost = 0, armed_s = 0;
	const char *names[] = { "none", "disarm", "arm" };
	struct gc_budget b;
	bool was_sampled = false;

	if (argc != 6 || !numparse_seconds(argv[1], 100, &pct) ||
	    sscanf(argv[2], "%lf", &share1) != 1 || sscanf(argv[3], "%lf", &t_switch) != 1 ||
	    sscanf(argv[4], "%lf", &share2) != 1 || sscanf(argv[5], "%lf", &t_end) != 1 ||
	    t_end > 3600)
		return usage_err(argv, "PCT SHARE1 T_SWITCH SHARE2 T_END");
	gc_budget__init(&b, pct, GC_BUDGET_CHARGE, 0.2, 0);
	printf("charge %g\n", b.charge);
	/* integer steps: no drift in the printed times */
	for (int k = 0; k <= (int)(t_end * 10 + 0.5); k++) {
		double t = k / 10.0;
		enum gc_budget_action a = gc_budget__step(&b, t, cost, t);

		if (a != GC_BUDGET_NONE)
			printf("%.1f %s %.4f %.4f\n", t, names[a], b.duty, b.share_all);
		else if (was_sampled && b.mode == GC_BUDGET_ALL)
			printf("%.1f all %.4f %.4f\n", t, b.duty, b.share_all);
		was_sampled = b.mode == GC_BUDGET_SAMPLED;
		if (b.armed) {
			cost += (t < t_switch ? share1 : share2) * 0.1;
			armed_s += 0.1;
		}
	}
	printf("armed %.1f windows %u switches %u now %s %.4f %.4f\n", armed_s, b.windows,
	       b.to_sampled, b.mode == GC_BUDGET_ALL ? "all" : "sampled", b.duty, b.share_all);
	return 0;
}

/* gc_counters__accept on one read: PREV (6 numbers: collections and
 * collected per generation, or "-") then RAW (9 Py_ssize_t). */
static int cmd_gc_counts_accept(int argc, char **argv)
{
	struct gc_gen_counts prev[GC_COUNTERS_GENERATIONS], out[GC_COUNTERS_GENERATIONS];
	int64_t raw[GC_COUNTERS_GENERATIONS * 3];
	bool have_prev = strcmp(argv[1 < argc ? 1 : 0], "-") != 0;
	int first = have_prev ? 7 : 2;

	if (argc != first + 9)
		return usage_err(argv, "PREV(6 numbers or -) RAW(9 numbers)");
	for (int g = 0; have_prev && g < GC_COUNTERS_GENERATIONS; g++)
		if (sscanf(argv[1 + 2 * g], "%" SCNu64, &prev[g].collections) != 1 ||
		    sscanf(argv[2 + 2 * g], "%" SCNu64, &prev[g].collected) != 1)
			return usage_err(argv, "PREV(6 numbers or -) RAW(9 numbers)");
	for (int i = 0; i < 9; i++)
		if (sscanf(argv[first + i], "%" SCNd64, &raw[i]) != 1)
			return usage_err(argv, "PREV(6 numbers or -) RAW(9 numbers)");
	if (!gc_counters__accept(have_prev ? prev : NULL, raw, out)) {
		printf("rejected\n");
		return 0;
	}
	for (int g = 0; g < GC_COUNTERS_GENERATIONS; g++)
		printf("%s%" PRIu64 " %" PRIu64, g ? " " : "", out[g].collections, out[g].collected);
	printf("\n");
	return 0;
}

/* gc_counters__take on one read, for the finalisation rule: STATIC (1: the
 * main interpreter outlives finalisation), LENIENT, HEAD (- not read, main,
 * other, or null), then LAST (6 numbers) and RAW (9).  Prints "taken",
 * "stale" (last stands, from before) or "dropped", the counters after it, and what it set (valid, final, others). */
static int cmd_gc_counts_take(int argc, char **argv)
{
	static const char usage[] = "STATIC LENIENT HEAD(-|main|other|null) LAST(6) RAW(9)";
	struct gc_counters c = { .valid = true, .head_addr = 0x1000, .main_interp = 0x2000 };
	int64_t raw[GC_COUNTERS_GENERATIONS * 3];
	uint64_t head = 0;
	bool head_read = true;
	int err;

	if (argc != 19)
		return usage_err(argv, usage);
	c.static_interp = !strcmp(argv[1], "1");
	if (!strcmp(argv[3], "-"))
		head_read = false;
	else if (!strcmp(argv[3], "main"))
		head = c.main_interp;
	else if (!strcmp(argv[3], "other"))
		head = 0x3000;
	else if (strcmp(argv[3], "null"))
		return usage_err(argv, usage);
	for (int g = 0; g < GC_COUNTERS_GENERATIONS; g++)
		if (sscanf(argv[4 + 2 * g], "%" SCNu64, &c.last[g].collections) != 1 ||
		    sscanf(argv[5 + 2 * g], "%" SCNu64, &c.last[g].collected) != 1)
			return usage_err(argv, usage);
	for (int i = 0; i < 9; i++)
		if (sscanf(argv[10 + i], "%" SCNd64, &raw[i]) != 1)
			return usage_err(argv, usage);
	err = gc_counters__take(&c, raw, head_read, head, !strcmp(argv[2], "1"));
	printf("%s", err < 0 ? "dropped" : err ? "stale" : "taken");
	for (int g = 0; g < GC_COUNTERS_GENERATIONS; g++)
		printf(" %" PRIu64 " %" PRIu64, c.last[g].collections, c.last[g].collected);
	printf("%s%s%s\n", c.valid ? " valid" : " invalid", c.final ? " final" : "",
	       c.others ? " others" : "");
	return 0;
}

const struct tool_cmd parser_cmds[] = {
	{ "gc-budget-sim", "PCT SHARE1 T_SWITCH SHARE2 T_END: --gc-budget's decisions",
	  cmd_gc_budget_sim },
	{ "gc-counts-accept", "PREV(6|-) RAW(9): the GC counters' sanity check",
	  cmd_gc_counts_accept },
	{ "gc-counts-take", "STATIC LENIENT HEAD LAST(6) RAW(9): a read, with the head after it",
	  cmd_gc_counts_take },
	{ "window-gaps", "WINDOW_MS PERIOD_MS N SEED: --sampled gaps in ms", cmd_window_gaps },
	{ "elf-info", "FILE: type, size, symtab/dynsym, base vaddr", cmd_elf_info },
	{ "elf-info-mem", "FILE: elf-info through elf_file__open_mem", cmd_elf_info_mem },
	{ "elf-sym", "FILE NAME...: name vaddr size source type bind", cmd_elf_sym },
	{ "elf-syms", "FILE: every defined symbol, dynsym first", cmd_elf_syms },
	{ "elf-import", "FILE NAME...: the GOT slot (vaddr) of each imported symbol", cmd_elf_import },
	{ "elf-name", "FILE VADDR...: the function holding each vaddr (symbolizer lookup)", cmd_elf_name },
	{ "elf-offset", "FILE VADDR: file offset of a vaddr", cmd_elf_offset },
	{ "elf-read", "FILE VADDR LEN: hex bytes at a vaddr", cmd_elf_read },
	{ "elf-notes", "FILE: USDT notes: provider name pc base sema args", cmd_elf_notes },
	{ "maps", "FILE|-: parsed /proc/PID/maps entries, then 'bad N'", cmd_maps },
	{ "maps-line", "LINE: one parsed maps line", cmd_maps_line },
	{ "maps-pid", "PID: parsed /proc/PID/maps", cmd_maps_pid },
	{ "hist-slot", "VALUE [NSLOTS]: slot low high", cmd_hist_slot },
	{ "hist-quantile", "Q [VALUE...]: q-quantile upper bound", cmd_hist_quantile },
	{ "hist-print", "UNIT [VALUE...]: text bar chart", cmd_hist_print },
	{ "hist-print-slots", "UNIT [SLOT=COUNT...]: text bar chart", cmd_hist_print_slots },
	{ "version-hex", "HEX: decode PY_VERSION_HEX", cmd_version_hex },
	{ "version-parse", "STRING: parse a version string", cmd_version_parse },
	{ "num-dec", "STRING MAX [LEN]: digits used and value, or 0", cmd_num_dec },
	{ "num-u64", "STRING MIN MAX: the whole string's value, or rejected", cmd_num_u64 },
	{ NULL, NULL, NULL },
};
