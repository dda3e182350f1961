/* Launching a traced command: see launch.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "elf.h"
#include "launch.h"
#include "log.h"

/* PATH search as execvp does it; 0 or -ENOENT/-EACCES. */
static int resolve_command(const char *name, char *out, size_t outlen)
{
	const char *path = getenv("PATH");
	const char *p;

	if (strchr(name, '/')) {
		if (access(name, X_OK))
			return -errno;
		snprintf(out, outlen, "%s", name);
		return 0;
	}
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; p && *p; ) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		struct stat st;

		if (n == 0) {
			snprintf(out, outlen, "./%s", name);
		} else if ((int)snprintf(out, outlen, "%.*s/%s", (int)n, p, name) >= (int)outlen) {
			p = end ? end + 1 : NULL;
			continue;
		}
		if (!stat(out, &st) && S_ISREG(st.st_mode) && !access(out, X_OK))
			return 0;
		p = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

/* For "#!" scripts, the interpreter the kernel will load. 0 if not a script,
 * 1 if image was set, -errno on error. */
static int resolve_shebang(const char *script, char *image, size_t len)
{
	char line[PATH_MAX + 8], *s, *interp, *arg;
	FILE *f = fopen(script, "re");

	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f) || strncmp(line, "#!", 2)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	s = line + 2;
	s[strcspn(s, "\n")] = '\0';
	interp = strtok(s, " \t");
	arg = strtok(NULL, " \t");
	if (!interp)
		return -ENOEXEC;
	/* "#!/usr/bin/env python3": env searches PATH for the name. */
	if (!strcmp(strrchr(interp, '/') ? strrchr(interp, '/') + 1 : interp, "env") && arg)
		return resolve_command(arg, image, len) ? -ENOENT : 1;
	snprintf(image, len, "%s", interp);
	return 1;
}

static int entry_offset(const char *image, uint64_t *off, char *err, size_t errlen)
{
	char why[256] = "";
	struct elf_file *ef = elf_file__open(image, why, sizeof(why));
	int ret;

	if (!ef) {
		ret = -errno;
		fmt_msg(err, errlen, "cannot read '%s': %s", image, why[0] ? why : strerror(-ret));
		return ret;
	}
	ret = elf_file__vaddr_to_offset(ef, elf_file__entry(ef), off);
	if (ret)
		fmt_msg(err, errlen, "'%s': its entry point is not in a loaded segment", image);
	elf_file__free(ef);
	return ret;
}

int launch__fork(char **cmd, struct launch *l, char *err, size_t errlen)
{
	int gate[2], errp[2], ret;

	memset(l, 0, sizeof(*l));
	l->gate_fd = l->err_fd = -1;
	ret = resolve_command(cmd[0], l->exec_path, sizeof(l->exec_path));
	if (ret) {
		fmt_msg(err, errlen, "cannot run '%s': %s", cmd[0], strerror(-ret));
		return ret;
	}
	ret = resolve_shebang(l->exec_path, l->image_path, sizeof(l->image_path));
	if (ret < 0) {
		fmt_msg(err, errlen, "cannot run '%s': bad '#!' line: %s", l->exec_path, strerror(-ret));
		return ret;
	}
	if (ret == 0)
		snprintf(l->image_path, sizeof(l->image_path), "%s", l->exec_path);
	ret = entry_offset(l->image_path, &l->entry_offset, err, errlen);
	if (ret)
		return ret;
	if (pipe2(gate, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
		ret = -errno;
		fmt_msg(err, errlen, "pipe: %s", strerror(-ret));
		return ret;
	}
	l->pid = fork();
	if (l->pid < 0) {
		ret = -errno;
		fmt_msg(err, errlen, "fork: %s", strerror(-ret));
		return ret;
	}
	if (l->pid == 0) {
		char c;
		int e;

		close(gate[1]);
		close(errp[0]);
		/* EOF means pymemtrace went away: do not run untraced. */
		if (read(gate[0], &c, 1) != 1)
			_exit(127);
		execv(l->exec_path, cmd);
		e = errno;
		if (write(errp[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(gate[0]);
	close(errp[1]);
	l->gate_fd = gate[1];
	l->err_fd = errp[0];
	return 0;
}

int launch__exec(struct launch *l, char *err, size_t errlen)
{
	int e = 0;
	ssize_t n;

	if (write(l->gate_fd, "x", 1) != 1) {
		int ret = -errno;

		fmt_msg(err, errlen, "cannot release the child: %s", strerror(-ret));
		return ret;
	}
	close(l->gate_fd);
	l->gate_fd = -1;
	do {
		n = read(l->err_fd, &e, sizeof(e));
	} while (n < 0 && errno == EINTR);
	close(l->err_fd);
	l->err_fd = -1;
	if (n == (ssize_t)sizeof(e)) {
		fmt_msg(err, errlen, "cannot execute '%s': %s", l->exec_path, strerror(e));
		waitpid(l->pid, NULL, 0);
		return -e;
	}
	return 0;
}

int launch__wait_held(struct launch *l, int timeout_ms, int *status)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };

	for (int waited = 0; waited <= timeout_ms; waited += 5) {
		int st = 0;
		pid_t r = waitpid(l->pid, &st, WUNTRACED | WNOHANG);

		if (r == l->pid) {
			if (WIFSTOPPED(st))
				return 0;
			if (status)
				*status = st;
			return -ECHILD;
		}
		if (r < 0 && errno != EINTR)
			return -errno;
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

void launch__resume(struct launch *l)
{
	kill(l->pid, SIGCONT);
}

void launch__abort(struct launch *l)
{
	if (l->pid > 0) {
		kill(l->pid, SIGKILL);
		waitpid(l->pid, NULL, 0);
	}
}
