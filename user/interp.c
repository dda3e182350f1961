/* Finding the CPython interpreter inside a running process: see interp.h.
 *
 * Everything here is read from files and memory that the target controls:
 * paths in /proc/PID/maps, the ELF it maps, the bytes of its version buffer.
 * Files are opened by a path we build ourselves and then checked against the
 * dev:inode the kernel reports for the mapping; numbers read from the target
 * are range-checked before they are used.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "interp.h"
#include "log.h"
#include "mapped_elf.h"
#include "procmaps.h"
#include "remote_mem.h"
#include "x86_decode.h"

#define CODE_MAX 512        /* bytes of a function we decode */
#define DECODE_INSNS 64
#define ARENA_STRUCT_SIZE 24 /* PyObjectArenaAllocator: ctx, alloc, free */

/* _Py_DebugOffsets (3.13+), at _PyRuntime + 0 */
#define DBG_COOKIE "xdebugpy"
#define DBG_VERSION_OFF 8
#define DBG_FREE_THREADED_OFF 16

/* ---- choosing the mapping ------------------------------------------------ */

static void read_comm(pid_t pid, char *buf, size_t cap)
{
	char path[64];
	FILE *f;

	snprintf(buf, cap, "?");
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(buf, (int)cap, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* The executable's identity, or NULL when it cannot be stat'ed. */
static const struct stat *exe_stat(pid_t pid, struct stat *st)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	return stat(path, st) ? NULL : st;
}

static bool is_exe(const struct stat *exe, const struct procmap_entry *e)
{
	return exe && procmaps__same_file(exe, e);
}

/* The files already looked at, by dev:inode.  Bounded, so that a target with
 * tens of thousands of mappings cannot make the search quadratic. */
#define MAX_TRIED 1024

struct tried {
	struct { unsigned maj, min; uint64_t ino; } v[MAX_TRIED];
	size_t n;
};

/* false if e's file was tried before; otherwise records it (true). */
static bool tried__add(struct tried *t, const struct procmap_entry *e)
{
	for (size_t j = 0; j < t->n; j++)
		if (t->v[j].ino == e->inode && t->v[j].maj == e->dev_major &&
		    t->v[j].min == e->dev_minor)
			return false;
	if (t->n == MAX_TRIED)
		return false;
	t->v[t->n].maj = e->dev_major;
	t->v[t->n].min = e->dev_minor;
	t->v[t->n].ino = e->inode;
	t->n++;
	return true;
}

/* The interpreter's code is executable in the target: files the process only
 * maps as data (locale archives, its own data files) are never opened. */
static bool is_exec_file_mapping(const struct procmap_entry *e)
{
	return e->path[0] == '/' && (e->perms & PM_X);
}

/* Names are only a hint for the order in which files are opened: the
 * executable and libpython* first, since they are the usual carriers. */
static bool likely_carrier(const struct stat *exe, const struct procmap_entry *e)
{
	const char *base = strrchr(e->path, '/');

	base = base ? base + 1 : e->path;
	return !strncmp(base, "libpython", 9) || is_exe(exe, e);
}

/* runtime address - ELF vaddr, from the mapping of file offset 0, then
 * checked against every other mapping of the same file: a mapping at S with
 * file offset O must hold the vaddr whose file offset is O. */
static int compute_bias(struct interp *in, const struct procmaps *m, const struct procmap_entry *e)
{
	const struct procmap_entry *first = NULL;
	uint64_t base = elf_file__base_vaddr(in->elf), off;

	if (elf_file__type(in->elf) == ET_EXEC) {
		in->load_bias = 0;
		return 0;
	}
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].inode == e->inode && m->v[i].dev_major == e->dev_major &&
		    m->v[i].dev_minor == e->dev_minor && m->v[i].offset == 0) {
			first = &m->v[i];
			break;
		}
	if (!first || elf_file__vaddr_to_offset(in->elf, base, &off) || off != 0)
		return -EIO;
	in->load_bias = first->start - base;
	for (size_t i = 0; i < m->n; i++) {
		const struct procmap_entry *o = &m->v[i];

		if (o->inode != e->inode || o->dev_major != e->dev_major ||
		    o->dev_minor != e->dev_minor)
			continue;
		if (elf_file__vaddr_to_offset(in->elf, o->start - in->load_bias, &off))
			continue; /* e.g. the .bss tail mapped from the file's last page */
		if (off != o->offset)
			return -EIO;
	}
	return 0;
}

/* Tries mapping i: 1 if it carries the interpreter (and fills in), 0 if not,
 * -errno on a hard error.  When a likely carrier (libpython*, the executable)
 * is a malformed or truncated ELF file, the first such reason goes to
 * `unreadable`: "no CPython" alone would hide that the file changed or was
 * cut after the target mapped it. */
static int try_mapping(struct interp *in, const struct procmaps *m, size_t i,
		       const struct stat *exe, bool *denied, char *unreadable, size_t ulen,
		       char *err, size_t errlen)
{
	const struct procmap_entry *e = &m->v[i];
	struct elf_sym sym;
	bool via_map_files;

	in->elf = mapped_elf_open(in->pid, e, in->open_path, sizeof(in->open_path),
				  &via_map_files, err, errlen);
	if (!in->elf) {
		/* not an ELF, or gone: not ours; unless we may not look */
		*denied |= errno == EACCES || errno == EPERM;
		if (errno == ENOEXEC && likely_carrier(exe, e) && !unreadable[0] && err && err[0])
			fmt_msg(unreadable, ulen, "'%s' (opened as %s) is unreadable: %s", e->path,
				in->open_path, err);
		return 0;
	}
	if (elf_file__find_symbol(in->elf, "_PyRuntime", &sym)) {
		elf_file__free(in->elf);
		in->elf = NULL;
		return 0;
	}
	if (via_map_files)
		mapped_elf_say_replaced(in->pid, e, in->open_path);
	snprintf(in->map_path, sizeof(in->map_path), "%s", e->path);
	in->map_inode = e->inode;
	in->map_dev_major = e->dev_major;
	in->map_dev_minor = e->dev_minor;
	in->kind = is_exe(exe, e) ? INTERP_STATIC : INTERP_LIBPYTHON;
	if (compute_bias(in, m, e)) {
		fmt_msg(err, errlen, "cannot compute the load address of '%s' in process %d",
			e->path, (int)in->pid);
		return -EIO;
	}
	return 1;
}

static bool same_file(const struct interp *in, const struct procmap_entry *e)
{
	return e->inode == in->map_inode && e->dev_major == in->map_dev_major &&
	       e->dev_minor == in->map_dev_minor;
}

int interp__recheck_image(struct interp *in)
{
	struct procmaps m = { 0 };
	const struct procmap_entry *e = NULL;
	struct elf_file *ef = in->elf;
	char open_path[PATH_MAX];
	bool via_map_files, at_bias = false;
	int ret = 0;

	if (procmaps__load(in->pid, &m, NULL))
		return -ESTALE;
	if (!ef) {
		/* opened through the mapping, as interp__find opened it */
		for (size_t i = 0; i < m.n && !e; i++)
			if (same_file(in, &m.v[i]) && m.v[i].offset == 0)
				e = &m.v[i];
		if (!e)
			ret = -ESTALE;
		else if (!(ef = mapped_elf_open(in->pid, e, open_path, sizeof(open_path),
						&via_map_files, NULL, 0)))
			ret = errno ? -errno : -EIO;
	}
	/* the mapping of file offset 0 lies at base + bias (compute_bias) */
	for (size_t i = 0; !ret && i < m.n && !at_bias; i++)
		at_bias = same_file(in, &m.v[i]) && m.v[i].offset == 0 &&
			  m.v[i].start == elf_file__base_vaddr(ef) + in->load_bias;
	if (!ret && !at_bias)
		ret = -ESTALE;
	if (ef != in->elf) {
		if (ret) {
			elf_file__free(ef);
		} else {
			in->elf = ef;
			snprintf(in->open_path, sizeof(in->open_path), "%s", open_path);
		}
	}
	procmaps__release(&m);
	return ret;
}

static int find_mapping(struct interp *in, char *err, size_t errlen)
{
	struct procmaps m = { 0 };
	struct stat exe_st;
	const struct stat *exe;
	struct tried *tried;
	bool denied = false;
	char comm[64], unreadable[512] = "";
	int ret;

	ret = procmaps__load(in->pid, &m, NULL);
	if (ret == -ESRCH || ret == -ENOENT) {
		fmt_msg(err, errlen, "no process with pid %d", (int)in->pid);
		return -ESRCH;
	}
	if (ret) {
		fmt_msg(err, errlen, "cannot read /proc/%d/maps: %s", (int)in->pid, strerror(-ret));
		return ret;
	}
	exe = exe_stat(in->pid, &exe_st);
	tried = calloc(1, sizeof(*tried));
	if (!tried) {
		procmaps__release(&m);
		return -ENOMEM;
	}
	ret = 0;
	for (int pass = 0; pass < 2 && ret == 0; pass++)
		for (size_t i = 0; i < m.n && ret == 0; i++) {
			const struct procmap_entry *e = &m.v[i];

			if (!is_exec_file_mapping(e) || (pass == 0 && !likely_carrier(exe, e)) ||
			    !tried__add(tried, e))
				continue;
			ret = try_mapping(in, &m, i, exe, &denied, unreadable,
					  sizeof(unreadable), err, errlen);
		}
	free(tried);
	procmaps__release(&m);
	if (ret < 0)
		return ret;
	if (ret == 0 && denied) {
		fmt_msg(err, errlen, "not allowed to open the files that process %d maps "
			"(run as root?)", (int)in->pid);
		return -EACCES;
	}
	if (ret == 0 && unreadable[0]) {
		read_comm(in->pid, comm, sizeof(comm));
		fmt_msg(err, errlen, "process %d ('%s') maps no readable CPython: %s",
			(int)in->pid, comm, unreadable);
		return -ENOEXEC;
	}
	if (ret == 0) {
		read_comm(in->pid, comm, sizeof(comm));
		fmt_msg(err, errlen, "process %d ('%s') does not run CPython: no libpython and "
			"no interpreter in its executable", (int)in->pid, comm);
		return -ENOEXEC;
	}
	return 0;
}

/* ---- the version ---------------------------------------------------------- */

/* Reads a function's code from the file image: its st_size bytes, capped. */
static int read_code(struct interp *in, const char *name, uint8_t *buf, size_t *len,
		     uint64_t *vaddr)
{
	struct elf_sym sym;
	size_t n;
	int ret = elf_file__find_symbol(in->elf, name, &sym);

	if (ret)
		return ret;
	if (sym.type != STT_FUNC)
		return -ENOENT;
	n = sym.size && sym.size < CODE_MAX ? sym.size : CODE_MAX;
	/* a lying st_size may run past the end of its segment: shrink to fit */
	while (n && (ret = elf_file__read_vaddr(in->elf, sym.vaddr, buf, n)) == -ERANGE)
		n /= 2;
	if (ret || !n)
		return ret ? ret : -ENOENT;
	*len = n;
	*vaddr = sym.vaddr;
	return 0;
}

static int version_from_py_version(struct interp *in, struct pyversion *v)
{
	struct elf_sym sym;
	uint8_t b[4];

	if (elf_file__find_symbol(in->elf, "Py_Version", &sym) ||
	    elf_file__read_vaddr(in->elf, sym.vaddr, b, sizeof(b)))
		return -ENOENT;
	pyversion_from_hex((uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 |
			   (uint64_t)b[3] << 24, v);
	return v->major == 3 ? 0 : -EINVAL;
}

/* What Py_GetVersion's code says: it PyOS_snprintf()s into a static buffer
 * (argument 0) with PY_VERSION, a string literal, as argument 3. */
struct getversion_refs {
	bool have_buf, have_lit;
	uint64_t buf, lit;        /* ELF vaddrs */
};

static void decode_getversion(struct interp *in, struct getversion_refs *r)
{
	uint8_t code[CODE_MAX];
	uint64_t fn;
	size_t len;

	memset(r, 0, sizeof(*r));
	if (read_code(in, "Py_GetVersion", code, &len, &fn))
		return;
	r->have_buf = !x86_call_arg_addr(code, len, fn, DECODE_INSNS, 0, &r->buf);
	r->have_lit = !x86_call_arg_addr(code, len, fn, DECODE_INSNS, 3, &r->lit);
}

/* PY_VERSION is nothing but a version: "3.9.18", "3.13.0rc1", "3.12.1+".
 * Anything else means the decoder found some other string. */
static bool is_version_literal(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr("0123456789.abcr+", *s))
			return false;
	return true;
}

/* The PY_VERSION literal, from the file image: it is there before the
 * interpreter has run a single instruction. */
static int version_from_literal(struct interp *in, const struct getversion_refs *r,
				struct pyversion *v)
{
	char s[32];
	size_t n = sizeof(s);
	int ret;

	if (!r->have_lit)
		return -ENOENT;
	/* a literal close to the end of its segment: read less */
	while ((ret = elf_file__read_vaddr(in->elf, r->lit, s, n)) == -ERANGE && n > 8)
		n /= 2;
	if (ret)
		return ret;
	if (!memchr(s, '\0', n) || !is_version_literal(s))
		return -EINVAL;
	return pyversion_parse(s, v);
}

enum buf_state {
	BUF_NONE,        /* no process, no decodable buffer, or unreadable */
	BUF_EMPTY,       /* all zeros: Py_Initialize has not run yet */
	BUF_BAD,         /* not "X.Y.Z (...": torn, or not the buffer */
	BUF_OK,
};

/* The static buffer Py_GetVersion() fills at start-up, "3.9.18 (main, ...)",
 * read from the target. */
static enum buf_state version_from_buffer(struct interp *in, const struct getversion_refs *r,
					  struct pyversion *v)
{
	char s[64];
	int n;

	if (in->pid <= 0 || !r->have_buf)
		return BUF_NONE;
	n = remote_read_str(in->pid, r->buf + in->load_bias, s, sizeof(s));
	if (n < 0)
		return BUF_NONE;
	if (n == 0)
		return BUF_EMPTY;
	/* the version is followed by " (": anything shorter may be half-written */
	if (!strchr(s, ' ') || pyversion_parse(s, v))
		return BUF_BAD;
	return BUF_OK;
}

/* _Py_DebugOffsets at _PyRuntime+0 (3.13+), from the file image: it is
 * statically initialised, so the file holds it even before start-up. */
static int read_debug_offsets(struct interp *in, struct pyversion *v, bool *free_threaded)
{
	struct elf_sym sym;
	uint8_t b[24];
	uint64_t hex, ft;

	if (elf_file__find_symbol(in->elf, "_PyRuntime", &sym) ||
	    elf_file__read_vaddr(in->elf, sym.vaddr, b, sizeof(b)) ||
	    memcmp(b, DBG_COOKIE, 8))
		return -ENOENT;
	memcpy(&hex, b + DBG_VERSION_OFF, 8);
	memcpy(&ft, b + DBG_FREE_THREADED_OFF, 8);
	pyversion_from_hex(hex, v);
	if (v->major != 3 || ft > 1)
		return -EINVAL;
	*free_threaded = ft == 1;
	return 0;
}

static bool same_version(const struct pyversion *a, const struct pyversion *b)
{
	return a->major == b->major && a->minor == b->minor && a->micro == b->micro;
}

/* One place the version can come from. */
struct vsource {
	const char *name;
	bool have;
	struct pyversion v;
};

/* Appends ", <name> agrees" for every other source present, or fails with
 * both versions in err when one disagrees. */
static int cross_check(struct interp *in, const struct vsource *vs, size_t n, size_t best,
		       char *err, size_t errlen)
{
	char *src = in->version_source;
	size_t cap = sizeof(in->version_source), used;

	for (size_t i = 0; i < n; i++) {
		if (i == best || !vs[i].have)
			continue;
		if (!same_version(&vs[best].v, &vs[i].v)) {
			fmt_msg(err, errlen, "'%s': %s says %d.%d.%d but %s says %d.%d.%d",
				in->map_path, vs[best].name, vs[best].v.major, vs[best].v.minor,
				vs[best].v.micro, vs[i].name, vs[i].v.major, vs[i].v.minor,
				vs[i].v.micro);
			return -EIO;
		}
		used = strlen(src);
		snprintf(src + used, cap - used, ", %s agrees", vs[i].name);
	}
	return 0;
}

/* The version, from the most direct source present, cross-checked against
 * every other one:
 *   Py_Version (3.11+) > _Py_DebugOffsets (3.13+) > the PY_VERSION literal in
 *   Py_GetVersion's code > the buffer Py_GetVersion fills at start-up.
 * All but the last are read from the file, so a process held at its entry
 * point (libpython mapped, Py_Initialize not run, the buffer still zeros) gets
 * its version too; an empty buffer is not an error. */
static int find_version(struct interp *in, char *err, size_t errlen)
{
	enum { VS_PYVERSION, VS_DEBUG, VS_LITERAL, VS_BUFFER, VS_N };
	struct vsource vs[VS_N] = {
		[VS_PYVERSION] = { .name = "Py_Version" },
		[VS_DEBUG] = { .name = "_Py_DebugOffsets" },
		[VS_LITERAL] = { .name = "PY_VERSION literal" },
		[VS_BUFFER] = { .name = "Py_GetVersion buffer" },
	};
	struct getversion_refs r;
	enum buf_state bs;
	char *src = in->version_source;
	size_t cap = sizeof(in->version_source), best, used;
	bool ft = false;
	int ret;

	decode_getversion(in, &r);
	vs[VS_PYVERSION].have = !version_from_py_version(in, &vs[VS_PYVERSION].v);
	vs[VS_DEBUG].have = !read_debug_offsets(in, &vs[VS_DEBUG].v, &ft);
	vs[VS_LITERAL].have = !version_from_literal(in, &r, &vs[VS_LITERAL].v);
	bs = version_from_buffer(in, &r, &vs[VS_BUFFER].v);
	vs[VS_BUFFER].have = bs == BUF_OK;

	for (best = 0; best < VS_N && !vs[best].have; best++)
		;
	if (best == VS_N) {
		fmt_msg(err, errlen, "cannot tell which CPython '%s' is: no Py_Version, no "
			"_Py_DebugOffsets, no PY_VERSION literal in Py_GetVersion's code, and %s",
			in->map_path, bs == BUF_EMPTY ? "the interpreter has not started yet" :
			"Py_GetVersion's buffer is unreadable or not a version");
		return -EIO;
	}
	switch (best) {
	case VS_PYVERSION:
		fmt_msg(src, cap, "Py_Version in .dynsym");
		break;
	case VS_DEBUG:
		fmt_msg(src, cap, "_Py_DebugOffsets at _PyRuntime");
		break;
	case VS_LITERAL:
		fmt_msg(src, cap, "PY_VERSION literal at 0x%llx in Py_GetVersion's code",
			(unsigned long long)r.lit);
		break;
	default:
		fmt_msg(src, cap, "Py_GetVersion buffer at 0x%llx in process %d",
			(unsigned long long)r.buf, (int)in->pid);
		break;
	}
	ret = cross_check(in, vs, VS_N, best, err, errlen);
	if (ret)
		return ret;
	used = strlen(src);
	if (bs == BUF_EMPTY)
		snprintf(src + used, cap - used, ", Py_GetVersion buffer empty (not started yet)");
	else if (bs == BUF_BAD)
		snprintf(src + used, cap - used, ", Py_GetVersion buffer not a version (ignored)");
	in->version = vs[best].v;
	in->free_threaded = ft;
	pyversion_format(&in->version, in->version_str, sizeof(in->version_str));
	return 0;
}

static int check_supported(struct interp *in, char *err, size_t errlen)
{
	if (pyversion_mm(&in->version) < 308) {
		fmt_msg(err, errlen, "CPython %s is not supported: pymemtrace needs 3.8 or newer",
			in->version_str);
		return -EPROTONOSUPPORT;
	}
	if (in->free_threaded) {
		fmt_msg(err, errlen, "CPython %s in '%s' is a free-threaded build: not supported "
			"(it allocates with mimalloc, not pymalloc, and its object layout differs)",
			in->version_str, in->map_path);
		return -EPROTONOSUPPORT;
	}
	return 0;
}

/* Keeps only the python provider's notes. */
static void load_usdt(struct interp *in)
{
	struct usdt_note *all = NULL;
	size_t n = 0, k = 0;

	if (elf_file__usdt_notes(in->elf, &all, &n, NULL) || !all) {
		free(all);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (!strcmp(all[i].provider, "python"))
			all[k++] = all[i];
	if (!k) {
		free(all);
		return;
	}
	in->usdt = all;
	in->n_usdt = k;
}

/* ---- public API ------------------------------------------------------------ */

/* What interp__find and interp__find_file share once the ELF is open. */
static int identify(struct interp *in, char *err, size_t errlen)
{
	int ret = find_version(in, err, errlen);

	if (!ret)
		ret = check_supported(in, err, errlen);
	if (ret)
		return ret;
	in->has_symtab = elf_file__has_symtab(in->elf);
	in->has_dynsym = elf_file__has_dynsym(in->elf);
	load_usdt(in);
	return 0;
}

int interp__find(pid_t pid, struct interp *out, char *err, size_t errlen)
{
	int ret;

	memset(out, 0, sizeof(*out));
	fmt_msg(err, errlen, "unknown error");
	if (pid <= 0) {
		fmt_msg(err, errlen, "no process with pid %d", (int)pid);
		return -ESRCH;
	}
	out->pid = pid;
	ret = find_mapping(out, err, errlen);
	if (!ret)
		ret = identify(out, err, errlen);
	if (ret)
		interp__release(out);
	return ret;
}

int interp__find_file(const char *path, struct interp *out, char *err, size_t errlen)
{
	struct elf_sym sym;
	struct stat st;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!path)
		return -EINVAL;
	/* never open a device node or a FIFO: opening one can block or act */
	if (stat(path, &st))
		ret = -errno;
	else if (!S_ISREG(st.st_mode))
		ret = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	else
		ret = 0;
	if (ret) {
		fmt_msg(err, errlen, "cannot use '%s': %s", path,
			ret == -EINVAL ? "not a regular file" : strerror(-ret));
		return ret;
	}
	snprintf(out->map_path, sizeof(out->map_path), "%s", path);
	snprintf(out->open_path, sizeof(out->open_path), "%s", path);
	out->elf = elf_file__open(path, err, errlen);
	if (!out->elf)
		return errno ? -errno : -EIO;
	if (elf_file__find_symbol(out->elf, "_PyRuntime", &sym)) {
		fmt_msg(err, errlen, "'%s' does not carry CPython: no _PyRuntime", path);
		interp__release(out);
		return -ENOEXEC;
	}
	out->kind = elf_file__type(out->elf) == ET_EXEC ||
		    !elf_file__find_symbol(out->elf, "main", &sym) ?
		    INTERP_STATIC : INTERP_LIBPYTHON;
	ret = identify(out, err, errlen);
	if (ret)
		interp__release(out);
	return ret;
}

void interp__release(struct interp *in)
{
	if (!in)
		return;
	elf_file__free(in->elf);
	free(in->usdt);
	in->elf = NULL;
	in->usdt = NULL;
	in->n_usdt = 0;
}

void interp__drop_image(struct interp *in)
{
	if (!in)
		return;
	elf_file__free(in->elf);
	in->elf = NULL;
}

int interp__symbol(struct interp *in, const char *name, struct elf_sym *out)
{
	if (!in || !in->elf || !name)
		return -EINVAL;
	return elf_file__find_symbol(in->elf, name, out);
}

int interp__debug_offset(struct interp *in, size_t field, uint64_t *val)
{
	struct elf_sym sym;
	char cookie[8];

	if (field < 16 || field > 4096 - 8)
		return -EINVAL;
	if (!in->elf)
		return -ENOENT;
	if (elf_file__find_symbol(in->elf, "_PyRuntime", &sym) ||
	    elf_file__read_vaddr(in->elf, sym.vaddr, cookie, sizeof(cookie)) ||
	    memcmp(cookie, DBG_COOKIE, sizeof(cookie)))
		return -ENOENT;
	return elf_file__read_vaddr(in->elf, sym.vaddr + field, val, sizeof(*val));
}

const struct usdt_note *interp__usdt(const struct interp *in, const char *name)
{
	for (size_t i = 0; in && name && i < in->n_usdt; i++)
		if (!strcmp(in->usdt[i].name, name))
			return &in->usdt[i];
	return NULL;
}

/* ---- arena functions ------------------------------------------------------- */

/* Whether runtime address rt lies in an executable mapping of the interpreter's
 * file in the target. */
static bool in_interp_code(struct interp *in, uint64_t rt)
{
	struct procmaps m = { 0 };
	bool found = false;
	struct stat st;

	/* open_path was checked against the mapping's dev:inode in interp__find */
	if (stat(in->open_path, &st) || procmaps__load(in->pid, &m, NULL))
		return false;
	for (size_t i = 0; i < m.n && !found; i++) {
		const struct procmap_entry *e = &m.v[i];

		found = (e->perms & PM_X) && rt >= e->start && rt < e->end &&
			procmaps__same_file(&st, e);
	}
	procmaps__release(&m);
	return found;
}

static int arena_from_symtab(struct interp *in, uint64_t *a, uint64_t *f,
			     const char **an, const char **fn)
{
	static const char *const names[][2] = {
		{ "_PyObject_ArenaMmap", "_PyObject_ArenaMunmap" }, /* 3.8 - 3.11 */
		{ "_PyMem_ArenaAlloc", "_PyMem_ArenaFree" },        /* 3.12+ */
	};
	struct elf_sym s1, s2;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (elf_file__find_symbol(in->elf, names[i][0], &s1) ||
		    elf_file__find_symbol(in->elf, names[i][1], &s2) ||
		    s1.type != STT_FUNC || s2.type != STT_FUNC)
			continue;
		*a = s1.vaddr;
		*f = s2.vaddr;
		*an = names[i][0];
		*fn = names[i][1];
		return 0;
	}
	return -ENOENT;
}

/* 3.12+: PyObject_GetArenaAllocator copies the struct out of _PyRuntime,
 * which PIC code reaches through a GOT slot.  The slot, relocated by the
 * dynamic loader, is read from the target: it is what the code really uses
 * (a copy relocation would point it away from libpython's own _PyRuntime).
 * _PyRuntime's .dynsym address is the cross-check.  *where gets the runtime
 * address of the struct. */
static int arena_struct_via_got(struct interp *in, uint64_t got, int64_t disp, uint64_t *where,
				char *how, size_t howlen)
{
	struct elf_sym rts;
	uint64_t rt;
	int ret;

	ret = remote_read(in->pid, got + in->load_bias, &rt, sizeof(rt));
	if (ret) {
		fmt_msg(how, howlen, "cannot read the GOT slot at 0x%llx in process %d: %s",
			(unsigned long long)got, (int)in->pid, strerror(-ret));
		return ret;
	}
	*where = rt + (uint64_t)disp;
	if (elf_file__find_symbol(in->elf, "_PyRuntime", &rts))
		fmt_msg(how, howlen, "decoded PyObject_GetArenaAllocator: allocator struct "
			"at +0x%llx in the object the GOT slot at 0x%llx points to",
			(unsigned long long)disp, (unsigned long long)got);
	else
		fmt_msg(how, howlen, "decoded PyObject_GetArenaAllocator: allocator struct "
			"at _PyRuntime+0x%llx (GOT slot 0x%llx, %s .dynsym _PyRuntime)",
			(unsigned long long)disp, (unsigned long long)got,
			rt == rts.vaddr + in->load_bias ? "agrees with" : "DISAGREES with");
	return 0;
}

/* Decodes PyObject_GetArenaAllocator to find the allocator struct, reads its
 * alloc/free pointers from the target and returns them as ELF vaddrs. */
static int arena_from_code(struct interp *in, uint64_t *a, uint64_t *f, char *how, size_t howlen)
{
	uint8_t code[CODE_MAX];
	uint64_t fn, slot, p[3], where, rt_runtime;
	struct elf_sym rts;
	int64_t disp;
	size_t len;
	int ret;

	if (in->pid <= 0) {
		fmt_msg(how, howlen, "no process to read the arena allocator from");
		return -ENOENT;
	}
	ret = read_code(in, "PyObject_GetArenaAllocator", code, &len, &fn);
	if (ret) {
		fmt_msg(how, howlen, "no PyObject_GetArenaAllocator to decode");
		return -ENOENT;
	}
	if (!x86_struct_copy_via_ptr(code, len, fn, DECODE_INSNS, &slot, &disp)) {
		ret = arena_struct_via_got(in, slot, disp, &where, how, howlen);
		if (ret)
			return ret;
	} else if (!x86_first_data_ref(code, len, fn, 16, &slot)) {
		where = slot + in->load_bias;
		fmt_msg(how, howlen, "decoded PyObject_GetArenaAllocator: allocator struct "
			"at 0x%llx", (unsigned long long)slot);
	} else {
		fmt_msg(how, howlen, "PyObject_GetArenaAllocator at 0x%llx reads no static data",
			(unsigned long long)fn);
		return -ENOENT;
	}
	ret = remote_read(in->pid, where, p, sizeof(p));
	if (ret) {
		fmt_msg(how, howlen, "cannot read the arena allocator at 0x%llx in process %d: %s",
			(unsigned long long)where, (int)in->pid, strerror(-ret));
		return ret;
	}
	/* a first data reference that is a pointer to _PyRuntime is a GOT slot
	 * the pattern above did not match: never misread it as the struct */
	if (!elf_file__find_symbol(in->elf, "_PyRuntime", &rts)) {
		rt_runtime = rts.vaddr + in->load_bias;
		if (p[0] == rt_runtime) {
			fmt_msg(how, howlen, "PyObject_GetArenaAllocator reaches the allocator "
				"through a pointer to _PyRuntime in a way the decoder does not "
				"follow");
			return -ENOENT;
		}
	}
	if (!in_interp_code(in, p[1]) || !in_interp_code(in, p[2])) {
		fmt_msg(how, howlen, "custom arena allocator at 0x%llx/0x%llx outside the "
			"interpreter", (unsigned long long)p[1], (unsigned long long)p[2]);
		return -ENOENT;
	}
	*a = p[1] - in->load_bias;
	*f = p[2] - in->load_bias;
	return 0;
}

int interp__arena_functions(struct interp *in, uint64_t *alloc_vaddr, uint64_t *free_vaddr,
			    char *how, size_t howlen)
{
	const char *an = NULL, *fn = NULL;
	uint64_t sa = 0, sf = 0, da, df;
	char dhow[192];
	int sret, dret;

	if (!in || !in->elf)
		return -EINVAL;
	sret = in->has_symtab ? arena_from_symtab(in, &sa, &sf, &an, &fn) : -ENOENT;
	dret = arena_from_code(in, &da, &df, dhow, sizeof(dhow));

	/* The decoded pointers are what the running interpreter calls, so they
	 * win when both exist; the names are the cross-check. */
	if (!dret && !sret) {
		*alloc_vaddr = da;
		*free_vaddr = df;
		fmt_msg(how, howlen, "%s; %s .symtab %s/%s", dhow,
			da == sa && df == sf ? "agrees with" : "DISAGREES with", an, fn);
		return 0;
	}
	if (!dret) {
		*alloc_vaddr = da;
		*free_vaddr = df;
		fmt_msg(how, howlen, "%s", dhow);
		return 0;
	}
	if (!sret && !strstr(dhow, "custom arena allocator")) {
		*alloc_vaddr = sa;
		*free_vaddr = sf;
		fmt_msg(how, howlen, ".symtab %s/%s (not decoded: %s)", an, fn, dhow);
		return 0;
	}
	fmt_msg(how, howlen, "%s", dhow);
	return -ENOENT;
}
