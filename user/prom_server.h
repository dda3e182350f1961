/* The Prometheus endpoint (--prometheus [ADDR:]PORT), on libmicrohttpd.
 *
 *   GET /metrics  the exposition (output.h output_prom): OpenMetrics 1.0.0
 *                 when the Accept header names application/openmetrics-text,
 *                 otherwise text format 0.0.4
 *   GET /         a short landing page; HEAD works for both
 *   other paths   404; other methods 405 (with Allow: GET, HEAD)
 *
 * Threads: none of its own.  libmicrohttpd runs in its "external polling"
 * mode on epoll: the session's event loop waits on prom_server__fd() (for
 * input) for at most prom_server__timeout_ms(), then calls
 * prom_server__run(), which answers whatever is ready.  Why: a scrape
 * collects a fresh report from the BPF maps and from the session's own state
 * (process list, stack-name caches), all of which belong to the event loop and
 * are not thread-safe.  Serving from the loop needs no lock and no copied
 * snapshot, and each scrape sees the maps as they are when it is answered.
 *
 * Cost of a scrape: every request answered in one prom_server__run shares one
 * collection, so a burst of scrapes costs one report, not one per request.
 *
 * Limits against slow or hostile clients: at most PROM_MAX_CONNECTIONS
 * connections at once (libmicrohttpd closes more at once); request line
 * and headers must fit in PROM_CONN_MEMORY bytes (libmicrohttpd answers
 * larger requests with an error and closes); a connection idle for
 * PROM_IDLE_TIMEOUT_S seconds is closed; a connection that has not delivered
 * a whole request PROM_REQUEST_DEADLINE_S seconds after its accept (or its
 * previous response) is shut down, however many bytes it trickles; request
 * bodies are never read.
 * Binds 127.0.0.1 unless an address is given.
 */
#ifndef PMT_PROM_SERVER_H
#define PMT_PROM_SERVER_H

#include <stddef.h>
#include <sys/socket.h>
#include "output.h"
#include "report.h"

#define PROM_MAX_CONNECTIONS 64
#define PROM_CONN_MEMORY     (16 * 1024)
#define PROM_IDLE_TIMEOUT_S  10
#define PROM_REQUEST_DEADLINE_S 10
#define PROM_DEFAULT_ADDR    "127.0.0.1"

struct prom_server;

/* Fills r with a fresh report (released by the server with report_release);
 * 0 or -errno, and then the scrape says pymemtrace_up 0. */
typedef int (*prom_collect_fn)(struct report *r, void *ctx);

struct prom_server_opts {
	const char *listen;       /* "PORT", "ADDR:PORT" or "[IPV6]:PORT"; numeric only */
	struct prom_opts fmt;     /* labels; .format is chosen per request, .up by collect */
	prom_collect_fn collect;
	void *ctx;
};

/* Parses a --prometheus argument into a socket address (port 0: any free
 * port).  0, or -EINVAL with the reason in err. */
int prom_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len,
		      char *err, size_t errlen);

/* Binds and listens.  NULL with the reason in err (port in use, ...). */
struct prom_server *prom_server__new(const struct prom_server_opts *o, char *err, size_t errlen);
void prom_server__free(struct prom_server *srv);

/* "127.0.0.1:9464": the address bound, with the port the kernel picked for 0. */
const char *prom_server__address(const struct prom_server *srv);

/* The event loop's side: poll fd for POLLIN, wait at most timeout_ms (-1:
 * no limit of the server's own), then run.  All three take the ctx pointer
 * the session passes back (a struct prom_server *). */
int prom_server__fd(const struct prom_server *srv);
int prom_server__timeout_ms(void *srv);
void prom_server__run(void *srv);

#endif
