/* log2 histograms: see hist.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "hist.h"

#define HIST_COLS	79	/* keep every row under 80 columns */
#define HIST_BAR_MAX	40
#define HIST_BAR_MIN	10

unsigned hist_slot(uint64_t v, unsigned nslots)
{
	unsigned s;

	if (!nslots)
		return 0;
	s = v <= 1 ? 0 : 63 - (unsigned)__builtin_clzll(v);
	return s < nslots ? s : nslots - 1;
}

uint64_t hist_slot_low(unsigned i)
{
	if (i == 0)
		return 0;
	return i < 64 ? 1ULL << i : UINT64_MAX;
}

uint64_t hist_slot_high(unsigned i)
{
	return i < 63 ? 1ULL << (i + 1) : UINT64_MAX;
}

uint64_t hist_total(const uint64_t *slots, unsigned nslots)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < nslots; i++)
		t = __builtin_add_overflow(t, slots[i], &t) ? UINT64_MAX : t;
	return t;
}

uint64_t hist_quantile(const uint64_t *slots, unsigned nslots, double q)
{
	uint64_t total = hist_total(slots, nslots), cum = 0;
	uint64_t want;
	double x;

	if (!total)
		return 0;
	if (!(q > 0))		/* also catches NaN */
		q = 0;
	if (q > 1)
		q = 1;
	/* the rank (1-based) of the sample that holds the q-quantile: ceil(q*n) */
	x = q * (double)total;
	if (x >= (double)total) {
		want = total;
	} else {
		want = (uint64_t)x;
		if ((double)want < x)
			want++;
	}
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < nslots; i++) {
		cum = __builtin_add_overflow(cum, slots[i], &cum) ? UINT64_MAX : cum;
		if (cum >= want)
			return hist_slot_high(i);
	}
	return hist_slot_high(nslots - 1);
}

/* ---- printing ------------------------------------------------------------ */

struct unit_scale {
	const char *unit;	/* as the caller names it */
	const char *sym[5];	/* symbol per step, NULL past the last */
	double step;
};

static const struct unit_scale scales[] = {
	{ "ns", { "ns", "us", "ms", "s", NULL }, 1000 },
	{ "us", { "us", "ms", "s", NULL }, 1000 },
	{ "usecs", { "us", "ms", "s", NULL }, 1000 },
	{ "ms", { "ms", "s", NULL }, 1000 },
	{ "bytes", { "B", "KiB", "MiB", "GiB", "TiB" }, 1024 },
	{ "B", { "B", "KiB", "MiB", "GiB", "TiB" }, 1024 },
};

static const struct unit_scale *find_scale(const char *unit)
{
	for (size_t i = 0; unit && i < sizeof(scales) / sizeof(scales[0]); i++)
		if (!strcmp(scales[i].unit, unit))
			return &scales[i];
	return NULL;
}

/* "512ns", "8.2us", "1MiB"; a plain number for units we cannot scale. */
static void fmt_value(char *buf, size_t len, uint64_t v, const struct unit_scale *sc)
{
	double x = (double)v;
	uint64_t div = 1;
	int k = 0;

	if (!sc) {
		snprintf(buf, len, "%" PRIu64, v);
		return;
	}
	while (x >= sc->step && k + 1 < 5 && sc->sym[k + 1]) {
		x /= sc->step;
		div *= (uint64_t)sc->step;
		k++;
	}
	if (v % div == 0)
		snprintf(buf, len, "%.0f%s", x, sc->sym[k]);
	else
		snprintf(buf, len, "%.1f%s", x, sc->sym[k]);
}

/* The label of slot i, or of the open-ended last slot. */
static void fmt_range(char *buf, size_t len, unsigned i, unsigned nslots,
		      const struct unit_scale *sc)
{
	char lo[24], hi[24];

	fmt_value(lo, sizeof(lo), hist_slot_low(i), sc);
	if (i == nslots - 1) {
		snprintf(buf, len, ">=%s", lo);
		return;
	}
	fmt_value(hi, sizeof(hi), hist_slot_high(i), sc);
	snprintf(buf, len, "%s-%s", lo, hi);
}

static int ndigits(uint64_t v)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

void hist_print(FILE *f, const uint64_t *slots, unsigned nslots, const char *unit,
		const char *indent)
{
	const struct unit_scale *sc = find_scale(unit);
	int first = -1, last = -1, lw = 5, cw = 5, bw;
	uint64_t max = 0;
	char label[64];

	indent = indent ? indent : "";
	for (unsigned i = 0; i < nslots; i++) {
		if (!slots[i])
			continue;
		if (first < 0)
			first = (int)i;
		last = (int)i;
		if (slots[i] > max)
			max = slots[i];
	}
	if (first < 0) {
		fprintf(f, "%s(no samples)\n", indent);
		return;
	}
	for (int i = first; i <= last; i++) {
		fmt_range(label, sizeof(label), (unsigned)i, nslots, sc);
		if ((int)strlen(label) > lw)
			lw = (int)strlen(label);
	}
	if (ndigits(max) > cw)
		cw = ndigits(max);
	/* indent + label + " : " + count + " |" + bar + "|" */
	bw = HIST_COLS - (int)strlen(indent) - lw - 3 - cw - 3;
	bw = bw > HIST_BAR_MAX ? HIST_BAR_MAX : bw < HIST_BAR_MIN ? HIST_BAR_MIN : bw;

	fprintf(f, "%s%*s : %*s  distribution\n", indent, lw, unit ? unit : "value",
		cw, "count");
	for (int i = first; i <= last; i++) {
		/* round up so that any non-zero slot shows at least one mark */
		unsigned __int128 m = ((unsigned __int128)slots[i] * (unsigned)bw + max - 1) / max;
		int marks = (int)m;
		fmt_range(label, sizeof(label), (unsigned)i, nslots, sc);
		fprintf(f, "%s%*s : %*" PRIu64 " |%-*.*s|\n", indent, lw, label, cw, slots[i],
			bw, marks,
			"****************************************");
	}
}
