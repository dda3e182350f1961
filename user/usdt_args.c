/* USDT argument specs: see usdt_args.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "pymemtrace.h"
#include "usdt_args.h"
#include "x86_decode.h"

#define NGPR 16

static int fail(int err, char *why, size_t whylen, const char *msg, const char *tok)
{
	if (why)
		fmt_msg(why, whylen, "%s in '%s'", msg, tok);
	return err;
}

/* Whether name (without '%') names GPR i at any width: %rax %eax %ax %al,
 * %r8 %r8d %r8w %r8b.  The names derive from x86_decode's 64-bit ones. */
static bool names_gpr(const char *name, int i)
{
	const char *r64 = x86v_gpr_name(i), *base = r64 + 1; /* "ax", "sp", "8" */
	size_t n = strlen(r64);
	char buf[8];

	if (!strcmp(name, r64))
		return true;
	if (i >= 8)
		return !strncmp(name, r64, n) && name[n] && !name[n + 1] && strchr("dwb", name[n]);
	snprintf(buf, sizeof(buf), "e%s", base);
	if (!strcmp(name, buf) || !strcmp(name, base))
		return true;
	/* al cl dl bl, but spl bpl sil dil */
	snprintf(buf, sizeof(buf), i < 4 ? "%.1sl" : "%sl", base);
	return !strcmp(name, buf);
}

/* Parses "%name" at s (up to end); the register's index, or -errno. */
static int parse_reg(const char *s, size_t len)
{
	char name[8];

	if (len < 3 || len > 5 || s[0] != '%')
		return -EINVAL;
	memcpy(name, s + 1, len - 1);
	name[len - 1] = '\0';
	for (int i = 0; i < NGPR; i++)
		if (names_gpr(name, i))
			return i;
	return -ENOTSUP; /* %rip, %ah..%dh, segment and vector registers */
}

/* A decimal integer filling exactly [s, s+len) (len 0: 0).  0 or -EINVAL. */
static int parse_int(const char *s, size_t len, int64_t *v)
{
	char buf[24], *end;

	if (len == 0) {
		*v = 0;
		return 0;
	}
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (!isdigit((unsigned char)buf[buf[0] == '-' || buf[0] == '+']))
		return -EINVAL;
	errno = 0;
	*v = strtoll(buf, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

/* One "[-]SIZE@OPERAND" token. */
static int parse_token(const char *tok, struct usdt_arg *a, char *why, size_t whylen)
{
	const char *at = strchr(tok, '@'), *op, *lp, *rp;
	size_t oplen;
	int64_t size;
	int reg;

	memset(a, 0, sizeof(*a));
	if (!at || parse_int(tok, (size_t)(at - tok), &size))
		return fail(-EINVAL, why, whylen, "no SIZE@ prefix", tok);
	a->is_signed = size < 0;
	a->size = (unsigned)(size < 0 ? -size : size);
	if (a->size != 1 && a->size != 2 && a->size != 4 && a->size != 8)
		return fail(-EINVAL, why, whylen, "argument size not 1, 2, 4 or 8", tok);
	op = at + 1;
	oplen = strlen(op);
	if (op[0] == '$') {
		a->kind = USDT_ARG_CONST;
		if (parse_int(op + 1, oplen - 1, &a->off) || oplen < 2)
			return fail(-ENOTSUP, why, whylen, "constant is not a decimal number", tok);
		return 0;
	}
	if (op[0] == '%') {
		a->kind = USDT_ARG_REG;
		reg = parse_reg(op, oplen);
		if (reg < 0)
			return fail(reg, why, whylen, "register not read here", tok);
		a->reg = reg;
		return 0;
	}
	lp = strchr(op, '(');
	rp = lp ? strchr(lp, ')') : NULL;
	if (!lp || !rp || rp[1])
		return fail(-ENOTSUP, why, whylen, "operand form not read here", tok);
	a->kind = USDT_ARG_DEREF;
	if (parse_int(op, (size_t)(lp - op), &a->off))
		return fail(-ENOTSUP, why, whylen, "displacement is not a number (a symbol?)", tok);
	reg = parse_reg(lp + 1, (size_t)(rp - lp - 1));
	if (reg < 0)
		return fail(reg == -EINVAL ? -ENOTSUP : reg, why, whylen,
			    "base register not read here (an index register or %rip?)", tok);
	a->reg = reg;
	return 0;
}

int usdt_arg_parse(const char *args, unsigned idx, struct usdt_arg *out, char *why,
		   size_t whylen)
{
	char tok[64];
	const char *p = args;
	unsigned i = 0;

	if (!args)
		return -EINVAL;
	for (;;) {
		size_t n;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		n = strcspn(p, " \t");
		if (i == idx) {
			if (n >= sizeof(tok)) {
				if (why)
					fmt_msg(why, whylen, "argument %u is too long", idx);
				return -EINVAL;
			}
			memcpy(tok, p, n);
			tok[n] = '\0';
			return parse_token(tok, out, why, whylen);
		}
		p += n;
		i++;
	}
	if (why)
		fmt_msg(why, whylen, "the probe has %u arguments, not %u", i, idx + 1);
	return -ENOENT;
}

int usdt_arg_cookie(const struct usdt_arg *a, uint64_t *cookie)
{
	uint64_t kind = a->kind == USDT_ARG_REG ? PMT_USDT_REG
		      : a->kind == USDT_ARG_DEREF ? PMT_USDT_DEREF : PMT_USDT_CONST;

	if (a->off < -(1LL << 23) || a->off >= (1LL << 23))
		return -ERANGE;
	*cookie = kind | (uint64_t)(a->reg & 15) << 4 | (uint64_t)(a->size & 15) << 8 |
		  (a->is_signed ? PMT_USDT_SIGNED : 0) |
		  ((uint64_t)a->off & 0xffffff) << 32;
	return 0;
}

void usdt_arg_describe(const struct usdt_arg *a, char *buf, size_t len)
{
	const char *sign = a->is_signed ? "signed" : "unsigned";

	switch (a->kind) {
	case USDT_ARG_REG:
		fmt_msg(buf, len, "%u bytes %s in %%%s", a->size, sign, x86v_gpr_name(a->reg));
		break;
	case USDT_ARG_DEREF:
		fmt_msg(buf, len, "%u bytes %s at %lld(%%%s)", a->size, sign, (long long)a->off,
			x86v_gpr_name(a->reg));
		break;
	case USDT_ARG_CONST:
		fmt_msg(buf, len, "constant %lld", (long long)a->off);
		break;
	}
}
