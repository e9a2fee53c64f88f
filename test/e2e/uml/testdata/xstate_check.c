/*
 * xstate_check.c: plays UML's part against a real child to test shim/xstate_shim.c.
 *
 * The child loads a pattern into zmm16 (AVX-512 state UML's 832-byte buffer cannot
 * hold) and another into xmm0 (inside those 832 bytes), then stops on int3. The
 * parent, like UML, reads the child's NT_X86_XSTATE with a LEN-byte buffer, changes
 * xmm0 in it, writes it back and resumes the child, which reports what it finds.
 *
 * Usage: xstate_check LEN [zeropad]
 *   LEN 832 is what UML 6.1 uses; 0 means the host's size. With zeropad the parent
 *   writes back a full-size buffer with everything past its first LEN bytes zeroed,
 *   the naive fix, which must show up as zmm16=lost.
 * Prints one line:
 *   host=N len=N get=ok|errno set=ok|errno xmm0=changed|kept|bad zmm16=kept|lost
 * or "noavx512 host=N" when the CPU has no AVX-512.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define FXSAVE_XMM0 160 /* Intel SDM Vol. 1 Table 10-2: XMM0 at byte 160 of the FXSAVE area */

static unsigned char zin[64] __attribute__((aligned(64)));
static unsigned char zout[64] __attribute__((aligned(64)));
static unsigned char xin[16], xout[16], xnew[16];

__attribute__((target("avx512f"), noinline)) static void child_body(void)
{
	__asm__ volatile("vmovdqu64 %[zin], %%zmm16\n\t"
			 "movdqu %[xin], %%xmm0\n\t"
			 "int3\n\t"
			 "vmovdqu64 %%zmm16, %[zout]\n\t"
			 "movdqu %%xmm0, %[xout]\n\t"
			 : [zout] "=m"(zout), [xout] "=m"(xout)
			 : [zin] "m"(zin), [xin] "m"(xin)
			 : "xmm0", "xmm16", "memory");
}

static int has_avx512f(void)
{
	unsigned int a, b, c, d;
	if (__get_cpuid_max(0, NULL) < 7)
		return 0;
	__cpuid_count(7, 0, a, b, c, d);
	if (!(b & (1u << 16)))
		return 0;
	__cpuid(1, a, b, c, d);
	return (c & (1u << 27)) != 0; /* OSXSAVE: the OS enabled XSAVE state */
}

int main(int argc, char **argv)
{
	size_t len = argc > 1 ? strtoul(argv[1], NULL, 0) : 832;
	int zeropad = argc > 2 && strcmp(argv[2], "zeropad") == 0;
	static unsigned char probe[65536], buf[65536];

	for (int i = 0; i < 64; i++)
		zin[i] = 0xA0 + (i & 15);
	for (int i = 0; i < 16; i++) {
		xin[i] = 0x10 + i;
		xnew[i] = 0xC0 + i;
	}

	pid_t pid = fork();
	if (pid == 0) {
		if (!has_avx512f())
			_exit(9);
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		child_body();
		int bad = 0;
		if (memcmp(xout, xnew, 16) == 0)
			bad |= 0; /* changed: the SET reached the child */
		else if (memcmp(xout, xin, 16) == 0)
			bad |= 1; /* kept: the SET did not happen */
		else
			bad |= 2;
		if (memcmp(zout, zin, 64) != 0)
			bad |= 4;
		_exit(bad);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return 1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 9) {
		printf("noavx512\n");
		return 0;
	}
	if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP) {
		fprintf(stderr, "child did not stop on int3 (status %#x)\n", st);
		return 1;
	}

	struct iovec p = {probe, sizeof probe};
	if (ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &p) != 0) {
		perror("probe GETREGSET");
		return 1;
	}
	size_t host = p.iov_len;
	if (len == 0)
		len = host;

	char get[32] = "ok", set[32] = "ok";
	struct iovec v = {buf, len};
	if (ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &v) != 0)
		snprintf(get, sizeof get, "errno%d", errno);
	memcpy(buf + FXSAVE_XMM0, xnew, 16);
	v.iov_base = buf;
	v.iov_len = len;
	if (zeropad && len < host) {
		memset(buf + len, 0, host - len);
		v.iov_len = host;
	}
	if (ptrace(PTRACE_SETREGSET, pid, (void *)NT_X86_XSTATE, &v) != 0)
		snprintf(set, sizeof set, "errno%d", errno);
	ptrace(PTRACE_CONT, pid, NULL, NULL);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st)) {
		fprintf(stderr, "child did not exit (status %#x)\n", st);
		return 1;
	}
	int bad = WEXITSTATUS(st);
	printf("host=%zu len=%zu get=%s set=%s xmm0=%s zmm16=%s\n", host, len, get, set,
	       (bad & 3) == 0 ? "changed" : (bad & 3) == 1 ? "kept" : "bad",
	       (bad & 4) ? "lost" : "kept");
	return 0;
}
