/* log2 histogram math shared by the reports (the BPF side fills the slots).
 *
 * Slot i counts values in [2^i, 2^(i+1)); slot 0 also counts 0.  This matches
 * pmt_log2() in bpf/pymemtrace.bpf.c; tests check both agree.
 */
#ifndef PMT_HIST_H
#define PMT_HIST_H

#include <stdint.h>
#include <stdio.h>

/* Slot index for value v (0 for v <= 1), capped at nslots-1. */
unsigned hist_slot(uint64_t v, unsigned nslots);
/* Lower and upper bound of slot i: [lo, hi). */
uint64_t hist_slot_low(unsigned i);
uint64_t hist_slot_high(unsigned i);
uint64_t hist_total(const uint64_t *slots, unsigned nslots);
/* Value below which fraction q (0..1) of samples fall, reported as the upper
 * bound of the slot that holds the q-quantile (an upper estimate).  0 if empty. */
uint64_t hist_quantile(const uint64_t *slots, unsigned nslots, double q);
/* Prints the non-empty range of slots as a text bar chart, `unit` names the values. */
void hist_print(FILE *f, const uint64_t *slots, unsigned nslots, const char *unit,
		const char *indent);

#endif
