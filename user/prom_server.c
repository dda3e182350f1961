/* The Prometheus endpoint: see prom_server.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include "log.h"
#include "numparse.h"
#include "prom_server.h"

/* One accepted connection's request deadline (see prom_server.h). */
struct conn_slot {
	bool in_use;
	int fd;
	uint64_t deadline_ms;    /* CLOCK_MONOTONIC; 0: none (a request is being answered) */
};

struct prom_server {
	struct MHD_Daemon *d;
	struct conn_slot conns[PROM_MAX_CONNECTIONS];
	struct prom_server_opts o;
	char addr[INET6_ADDRSTRLEN + 16];
	/* The report shared by the requests of one prom_server__run. */
	struct report r;
	bool have_report, report_ok;
};

static const char landing[] =
	"<!DOCTYPE html>\n"
	"<html><head><title>pymemtrace</title></head><body>\n"
	"<h1>pymemtrace</h1>\n"
	"<p>Memory of traced CPython processes, for Prometheus: "
	"<a href=\"/metrics\">/metrics</a>.</p>\n"
	"</body></html>\n";

/* ---- the listen address ---------------------------------------------------------- */

int prom_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len,
		      char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_s, *colon;
	uint64_t port;
	size_t n;

	memset(ss, 0, sizeof(*ss));
	if (!s || !*s)
		goto bad;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			goto bad;
		n = close - s - 1;
		if (n >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		port_s = close + 2;
	} else if ((colon = strrchr(s, ':'))) {
		n = colon - s;
		if (n >= sizeof(host) || memchr(s, ':', n))
			goto bad; /* a bare IPv6 address needs brackets */
		memcpy(host, s, n);
		host[n] = '\0';
		port_s = colon + 1;
	} else {
		snprintf(host, sizeof(host), "%s", PROM_DEFAULT_ADDR);
		port_s = s;
	}
	if (!numparse_u64(port_s, 0, 65535, &port))
		goto bad;
	if (s[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			goto bad;
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			goto bad;
		*len = sizeof(*a);
	}
	return 0;
bad:
	fmt_msg(err, errlen, "invalid --prometheus '%s': want PORT, ADDR:PORT or [IPV6]:PORT "
		"with a numeric address and a port 0..65535", s ? s : "");
	return -EINVAL;
}

/* ---- requests --------------------------------------------------------------------- */

/* True when the Accept header asks for OpenMetrics with a q above 0. */
static bool wants_openmetrics(const char *accept)
{
	static const char om[] = "application/openmetrics-text";
	const char *p = accept;

	while (p && *p) {
		const char *end = strchr(p, ','), *q;
		size_t n = end ? (size_t)(end - p) : strlen(p);

		while (n && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		if (n >= sizeof(om) - 1 && !strncasecmp(p, om, sizeof(om) - 1) &&
		    (n == sizeof(om) - 1 || p[sizeof(om) - 1] == ';' || p[sizeof(om) - 1] == ' ')) {
			bool zero = false;

			/* "q=0", "q=0.0", ...: the client refuses it. */
			q = p;
			while ((q = memchr(q, 'q', n - (q - p)))) {
				if (q > p && q + 2 <= p + n && q[1] == '=' &&
				    (q[-1] == ';' || q[-1] == ' ')) {
					double v = strtod(q + 2, NULL);

					zero = v <= 0;
					break;
				}
				q++;
			}
			if (!zero)
				return true;
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
			       char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!resp) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO; /* closes the connection */
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result plain(struct MHD_Connection *c, unsigned status, const char *text)
{
	return respond(c, status, "text/plain; charset=utf-8", (char *)text, strlen(text),
		       MHD_RESPMEM_PERSISTENT);
}

/* The exposition, from the report of this round (collected on first use). */
static enum MHD_Result serve_metrics(struct prom_server *srv, struct MHD_Connection *c)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	struct prom_opts fmt = srv->o.fmt;
	struct report empty = {};
	char *buf = NULL;
	size_t len = 0;
	FILE *m;
	int ret;

	if (!srv->have_report) {
		srv->have_report = true;
		srv->report_ok = !srv->o.collect(&srv->r, srv->o.ctx);
		if (!srv->report_ok)
			pr_warn("prometheus: cannot collect a report for a scrape");
	}
	fmt.format = wants_openmetrics(accept) ? PROM_OPENMETRICS : PROM_TEXT;
	fmt.up = srv->report_ok;
	m = open_memstream(&buf, &len);
	if (!m)
		return plain(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	ret = output_prom(m, srv->report_ok ? &srv->r : &empty, &fmt);
	if (fclose(m) || ret) {
		free(buf);
		return plain(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot format the metrics\n");
	}
	return respond(c, MHD_HTTP_OK, prom_content_type(fmt.format), buf, len, MHD_RESPMEM_MUST_FREE);
}

/* ---- request deadlines ------------------------------------------------------------
 * libmicrohttpd's timeout counts idle time only, so a client that trickles a
 * byte every few seconds would hold its connection forever.  Each connection
 * therefore gets PROM_REQUEST_DEADLINE_S to deliver a whole request (from
 * its accept, or from the end of its previous response); past that its socket
 * is shut down, which libmicrohttpd sees as the client going away. */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct conn_slot *slot_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct prom_server *srv = cls;
	struct conn_slot *slot = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (slot)
			slot->in_use = false;
		*socket_context = NULL;
		return;
	}
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return;
	for (unsigned i = 0; i < PROM_MAX_CONNECTIONS; i++) {
		if (!srv->conns[i].in_use) {
			srv->conns[i] = (struct conn_slot){ true, ci->connect_fd,
							    mono_ms() + PROM_REQUEST_DEADLINE_S * 1000 };
			*socket_context = &srv->conns[i];
			return;
		}
	}
}

/* A response is done: the next request on a kept-alive connection gets a
 * deadline of its own. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn_slot *slot = slot_of(c);

	if (slot)
		slot->deadline_ms = mono_ms() + PROM_REQUEST_DEADLINE_S * 1000;
}

/* Shuts down the connections past their deadline; returns the ms until the
 * next deadline, or -1 when there is none. */
static long enforce_deadlines(struct prom_server *srv)
{
	uint64_t now = mono_ms();
	long next = -1;

	for (unsigned i = 0; i < PROM_MAX_CONNECTIONS; i++) {
		struct conn_slot *sl = &srv->conns[i];

		if (!sl->in_use || !sl->deadline_ms)
			continue;
		if (now >= sl->deadline_ms) {
			shutdown(sl->fd, SHUT_RDWR);
			sl->deadline_ms = 0;
			pr_debug("prometheus: a client sent no whole request in %d s: disconnected",
				 PROM_REQUEST_DEADLINE_S);
			continue;
		}
		if (next < 0 || (long)(sl->deadline_ms - now) < next)
			next = (long)(sl->deadline_ms - now);
	}
	return next;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	static int seen;
	struct prom_server *srv = cls;

	/* Other methods are answered at once, their bodies unread:
	 * libmicrohttpd then closes the connection rather than read an upload
	 * nobody wants. */
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return plain(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	/* GET and HEAD are answered on the second call, once the request is
	 * complete, so that the connection can be kept alive.  A body on them
	 * is garbage: drop the connection. */
	if (!*con_cls) {
		struct conn_slot *slot = slot_of(c);

		if (slot)
			slot->deadline_ms = 0; /* the request is whole: no deadline while answering */
		*con_cls = &seen;
		return MHD_YES;
	}
	if (*upload_size)
		return MHD_NO;
	if (!strcmp(url, "/metrics"))
		return serve_metrics(srv, c);
	if (!strcmp(url, "/"))
		return respond(c, MHD_HTTP_OK, "text/html; charset=utf-8", (char *)landing,
			       sizeof(landing) - 1, MHD_RESPMEM_PERSISTENT);
	return plain(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n");
}

/* libmicrohttpd's messages (bad requests, resets) are debug chatter: -vv. */
static void on_log(void *cls, const char *fmt, va_list ap)
{
	if (log_verbosity >= 3) {
		fputs("prometheus: ", stderr);
		vfprintf(stderr, fmt, ap);
	}
}

/* ---- lifecycle ---------------------------------------------------------------------- */

struct prom_server *prom_server__new(const struct prom_server_opts *o, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct prom_server *srv;
	const union MHD_DaemonInfo *info;
	char host[INET6_ADDRSTRLEN];
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	if (prom_parse_listen(o->listen, &ss, &sl, err, errlen))
		return NULL;
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		fmt_msg(err, errlen, "out of memory");
		return NULL;
	}
	srv->o = *o;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	srv->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)PROM_MAX_CONNECTIONS,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)PROM_CONN_MEMORY,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)PROM_IDLE_TIMEOUT_S,
				  MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
				  MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL,
				  MHD_OPTION_END);
	if (!srv->d) {
		fmt_msg(err, errlen, "cannot serve metrics on '%s': %s", o->listen,
			errno ? strerror(errno) : "libmicrohttpd refused (-vv says why)");
		free(srv);
		return NULL;
	}
	info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
		snprintf(srv->addr, sizeof(srv->addr), "[%s]:%u", host, info ? info->port : 0);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
		snprintf(srv->addr, sizeof(srv->addr), "%s:%u", host, info ? info->port : 0);
	}
	return srv;
}

void prom_server__free(struct prom_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->d);
	free(srv);
}

const char *prom_server__address(const struct prom_server *srv)
{
	return srv->addr;
}

int prom_server__fd(const struct prom_server *srv)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_EPOLL_FD);

	return info ? info->epoll_fd : -1;
}

int prom_server__timeout_ms(void *ctx)
{
	struct prom_server *srv = ctx;
	MHD_UNSIGNED_LONG_LONG t;

	long dl = enforce_deadlines(srv);

	if (MHD_get_timeout(srv->d, &t) != MHD_YES)
		return dl < 0 ? -1 : (int)(dl > INT_MAX ? INT_MAX : dl);
	if (dl >= 0 && (MHD_UNSIGNED_LONG_LONG)dl < t)
		t = dl;
	return t > INT_MAX ? INT_MAX : (int)t;
}

void prom_server__run(void *ctx)
{
	struct prom_server *srv = ctx;

	srv->have_report = false;
	MHD_run(srv->d);
	enforce_deadlines(srv);
	if (srv->have_report && srv->report_ok)
		report_release(&srv->r);
	srv->have_report = false;
}
