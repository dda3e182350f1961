/* pmt-test-tool subcommands for the out-of-process censuses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "census_pymalloc.h"
#include "interp.h"
#include "json_writer.h"
#include "tool.h"

/* pymalloc-census PID [--json]: the census of a running CPython. */
static int cmd_pymalloc_census(int argc, char **argv)
{
	struct pymalloc_census *c;
	struct interp in;
	char err[256], *end;
	bool json = argc == 3 && !strcmp(argv[2], "--json");
	long pid;
	int ret;

	if (argc < 2 || argc > 3 || (argc == 3 && !json)) {
		fprintf(stderr, "usage: pymalloc-census PID [--json]\n");
		return 2;
	}
	errno = 0;
	pid = strtol(argv[1], &end, 10);
	if (errno || *end || pid <= 0 || pid > 0x7fffffff) {
		fprintf(stderr, "pymalloc-census: bad pid '%s'\n", argv[1]);
		return 2;
	}
	ret = interp__find((pid_t)pid, &in, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "pymalloc-census: process %ld: %s\n", pid, err);
		return 1;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		interp__release(&in);
		return 1;
	}
	ret = pymalloc_census__take(&in, (pid_t)pid, c, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "pymalloc-census: process %ld: %s (%s)\n", pid, err, strerror(-ret));
	} else if (json) {
		struct jw *w = jw_new(stdout);

		jw_object_begin(w);
		jw_key(w, "pymalloc");
		pymalloc_census__write_json(w, c);
		jw_object_end(w);
		ret = jw_free(w);
		putchar('\n');
	} else {
		pymalloc_census__write_text(stdout, c);
	}
	free(c);
	interp__release(&in);
	return ret ? 1 : 0;
}


/* ---- a synthetic arena table in this process ------------------------------
 * Layout of 3.12 (1 MiB arenas, 16 KiB pools), with every kind of bad record
 * and pool header the walk must skip, and known good ones around them.  The
 * census reads it through process_vm_readv of our own pid, as it would read
 * a target.  Expected numbers: tests/10-unit.bats. */
#define S_ARENA (1u << 20)
#define S_POOL (16u << 10)
#define S_NARENAS 5

static uint64_t synth_arenas;     /* the `arenas` pointer, as a target has it */
static uint32_t synth_maxarenas;

static void put_ao(uint8_t *ao, uint64_t address, uint64_t pool_address,
		   uint32_t nfree, uint32_t ntotal)
{
	memset(ao, 0, 48);
	memcpy(ao, &address, 8);
	memcpy(ao + 8, &pool_address, 8);
	memcpy(ao + 16, &nfree, 4);
	memcpy(ao + 20, &ntotal, 4);
}

static void put_pool(uint8_t *pool, uint32_t count, uint32_t arenaindex, uint32_t szidx)
{
	memset(pool, 0, 48);
	memcpy(pool, &count, 4);
	memcpy(pool + 32, &arenaindex, 4);
	memcpy(pool + 36, &szidx, 4);
}

static uint8_t *map_arena(void)
{
	/* 1 MiB + a pool, trimmed to a pool boundary: no alignment loss */
	uint8_t *p = mmap(NULL, S_ARENA + S_POOL, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	return (uint8_t *)(((uintptr_t)p + S_POOL - 1) & ~(uintptr_t)(S_POOL - 1));
}

static int cmd_pymalloc_census_synth(int argc, char **argv)
{
	static uint8_t table[S_NARENAS * 48];
	struct pymalloc_census *c;
	uint8_t *a0 = map_arena(), *a3 = map_arena(), *a4 = map_arena();
	char err[256];
	struct jw *w;
	int ret;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: pymalloc-census-synth\n");
		return 2;
	}
	if (!a0 || !a3 || !a4)
		return 1;
	/* arena 0: four carved pools: used (class 3), empty, bad class, used (class 0) */
	put_pool(a0, 10, 0, 3);
	put_pool(a0 + S_POOL, 0, 0, 3);
	put_pool(a0 + 2 * S_POOL, 5, 0, 99);
	put_pool(a0 + 3 * S_POOL, 1000, 0, 0);
	put_ao(table, (uintptr_t)a0, (uintptr_t)a0 + 4 * S_POOL, 61, 64);
	/* arena 1: an unused slot */
	put_ao(table + 48, 0, 0, 0, 0);
	/* arena 2: an address no mmap returns: the record is skipped */
	put_ao(table + 96, (uintptr_t)a0 + 8, (uintptr_t)a0 + 8, 64, 64);
	/* arena 3: three pools, the middle one unmapped (a torn arena) */
	put_pool(a3, 5, 3, 1);
	put_pool(a3 + 2 * S_POOL, 7, 3, 1);
	munmap(a3 + S_POOL, S_POOL);
	put_ao(table + 144, (uintptr_t)a3, (uintptr_t)a3 + 3 * S_POOL, 61, 64);
	/* arena 4: wrong arena index, count over capacity, then a good pool */
	put_pool(a4, 3, 7, 31);
	put_pool(a4 + S_POOL, 32, 4, 31);
	put_pool(a4 + 2 * S_POOL, 3, 4, 31);
	put_ao(table + 192, (uintptr_t)a4, (uintptr_t)a4 + 3 * S_POOL, 61, 64);
	synth_arenas = (uintptr_t)table;
	synth_maxarenas = S_NARENAS;

	c = calloc(1, sizeof(*c));
	if (!c)
		return 1;
	ret = pymalloc_census__take_at(getpid(), 312, (uintptr_t)&synth_arenas,
				       (uintptr_t)&synth_maxarenas, c, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "pymalloc-census-synth: %s (%s)\n", err, strerror(-ret));
		free(c);
		return 1;
	}
	w = jw_new(stdout);
	jw_object_begin(w);
	jw_key(w, "pymalloc");
	pymalloc_census__write_json(w, c);
	jw_object_end(w);
	ret = jw_free(w);
	putchar('\n');
	free(c);
	return ret ? 1 : 0;
}

const struct tool_cmd census_cmds[] = {
	{ "pymalloc-census", "PID [--json]: pymalloc arenas, pools and blocks of a live CPython",
	  cmd_pymalloc_census },
	{ "pymalloc-census-synth", ": the census of a synthetic arena table with bad records",
	  cmd_pymalloc_census_synth },
	{ NULL, NULL, NULL },
};
