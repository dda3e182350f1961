/* Version strings read from the target (Py_GetVersion's buffer, the
 * PY_VERSION literal in the file) and PY_VERSION_HEX values. */
#include "fuzz.h"
#include "pyversion.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pyversion v;
	char buf[64], *s;
	uint64_t hex = 0;

	memcpy(&hex, data, size < sizeof(hex) ? size : sizeof(hex));
	pyversion_from_hex(hex, &v);
	pyversion_format(&v, buf, sizeof(buf));
	s = fuzz_strdup(data, size);
	if (!s)
		return 0;
	if (!pyversion_parse(s, &v)) {
		pyversion_format(&v, buf, sizeof(buf));
		fuzz_use(buf, pyversion_mm(&v));
	}
	free(s);
	return 0;
}
