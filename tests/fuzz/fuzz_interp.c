/* Interpreter discovery on a file (interp__find_file): which CPython it is,
 * from Py_Version, _Py_DebugOffsets or the PY_VERSION literal that
 * Py_GetVersion's code points at (decoded from the file's bytes); then the
 * struct layouts, the arena functions and the LTO allocation sites, all read
 * from the same file image.  The input is written to a memfd and opened by
 * path, as the tracer opens the target's file through /proc/self/fd. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include "fuzz.h"
#include "interp.h"
#include "lto_sites.h"
#include "pyoffsets.h"

static int input_file(const uint8_t *data, size_t size, char *path, size_t cap)
{
	static int fd = -1;
	size_t done = 0;

	if (fd < 0)
		fd = memfd_create("fuzz_interp", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 0))
		return -1;
	while (done < size) {
		ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);

		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	snprintf(path, cap, "/proc/self/fd/%d", fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lto_sites *ls = NULL;
	struct py_layout l;
	struct interp in;
	uint64_t a, f;
	char path[64], err[512];

	if (input_file(data, size, path, sizeof(path)))
		return 0;
	if (interp__find_file(path, &in, err, sizeof(err)))
		return 0;
	if (!pyoffsets__layout(&in, &l, err, sizeof(err)))
		fuzz_use(&l, sizeof(l));
	if (!interp__arena_functions(&in, &a, &f, err, sizeof(err)))
		fuzz_use(&a, f);
	if (!lto_sites__scan(&in, &ls, err, sizeof(err)))
		lto_sites__free(ls);
	interp__release(&in);
	return 0;
}
