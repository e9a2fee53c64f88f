/*
 * xstate_shim.c: an LD_PRELOAD library for Debian's linux.uml (user-mode Linux 6.1).
 *
 * Why: UML 6.1 moves a guest process's vector registers with
 * ptrace(PTRACE_GETREGSET/PTRACE_SETREGSET, pid, NT_X86_XSTATE, iov) and a fixed
 * 832-byte buffer (struct _xstate: FXSAVE area, XSAVE header, YMM upper halves).
 * A host kernel accepts NT_X86_XSTATE SETREGSET only with the whole XSAVE size of
 * the host CPU (2.4 KiB with AVX-512, about 11 KiB with AMX), so on such CPUs the
 * first guest process dies with "ptrace set fp regs failed, errno = 14" (EFAULT).
 * Forcing UML onto the older FXSAVE path boots but silently loses AVX state, and
 * the guest's glibc then misbehaves.
 *
 * What: this library interposes ptrace(). For NT_X86_XSTATE transfers shorter than
 * the host's XSAVE size it keeps one full-size side buffer per UML buffer (keyed by
 * the buffer's address): GET reads the whole state into the side buffer and copies
 * UML's bytes out of it; SET copies UML's bytes over the front of the side buffer
 * and writes the whole state back, so the state UML does not know about (AVX-512,
 * AMX) survives a save/restore round trip. Every other request, and every
 * NT_X86_XSTATE transfer that is already full-size, goes to libc's ptrace
 * unchanged: on hosts whose XSAVE size is 832 bytes, or where UML does not use
 * NT_X86_XSTATE at all, the library changes nothing.
 *
 * It is async-signal-safe on purpose (UML runs its interrupt handlers from host
 * signals): no malloc, no locks; buffers come from mmap and slots are claimed with
 * atomic compare-and-swap.
 *
 * Setting UML_XSTATE_SHIM_DEBUG=1 in linux.uml's environment makes it report on
 * stderr the first few NT_X86_XSTATE transfers it sees and what it did with them.
 *
 * Build: gcc -shared -fPIC -O2 -o xstate_shim.so xstate_shim.c -ldl
 */
#define _GNU_SOURCE
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202 /* include/uapi/linux/elf.h */
#endif

/* Largest XSAVE image we are prepared for when CPUID cannot tell (AMX is ~11 KiB). */
#define SIDE_MIN 16384
/* One slot per UML fp buffer: UML has one per guest task, so a few hundred is plenty;
 * when a buffer's probe window is full its first slot is taken over (the evicted
 * buffer only loses the state UML does not see, which restarts from zeros, the
 * architectural init state of those components). */
#define NSLOTS 1024
#define PROBE 16

typedef long (*ptrace_fn)(enum __ptrace_request, ...); /* glibc's ptrace is variadic */

struct slot {
	uintptr_t key;	/* UML's iov_base, 0 = free */
	unsigned char *buf;	/* side buffer of side_cap bytes */
};

static struct slot slots[NSLOTS];
static size_t side_cap;	/* bytes mmapped per side buffer */
static size_t xsize;	/* host's NT_X86_XSTATE size, learnt from the first GET */
static int debug = -1;
static int debug_left = 12;

static long real_ptrace(enum __ptrace_request req, pid_t pid, void *addr, void *data)
{
	static ptrace_fn next;
	if (!next)
		next = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
	if (next)
		return next(req, pid, addr, data);
	/* No libc ptrace below us: the raw system call, with glibc's PEEK convention
	 * (the word is the return value, errno tells an error from a -1 word). */
	if (req == PTRACE_PEEKTEXT || req == PTRACE_PEEKDATA || req == PTRACE_PEEKUSER) {
		long word;
		long r = syscall(SYS_ptrace, req, pid, addr, &word);
		if (r < 0)
			return r;
		errno = 0;
		return word;
	}
	return syscall(SYS_ptrace, req, pid, addr, data);
}

static void say(const char *msg, long a, long b)
{
	char line[160];
	size_t n = 0;
	const char *pfx = "xstate_shim: ";
	long vals[2] = {a, b};

	if (debug < 0) {
		const char *e = getenv("UML_XSTATE_SHIM_DEBUG");
		debug = e && *e && *e != '0';
	}
	if (!debug || debug_left <= 0)
		return;
	debug_left--;
	for (; *pfx && n < sizeof line - 1; pfx++)
		line[n++] = *pfx;
	for (; *msg && n < sizeof line - 1; msg++)
		line[n++] = *msg;
	for (int i = 0; i < 2; i++) {
		char num[24];
		int k = 0;
		unsigned long v = vals[i] < 0 ? -(unsigned long)vals[i] : (unsigned long)vals[i];
		do {
			num[k++] = '0' + v % 10;
			v /= 10;
		} while (v && k < (int)sizeof num);
		if (n < sizeof line - 1)
			line[n++] = ' ';
		if (vals[i] < 0 && n < sizeof line - 1)
			line[n++] = '-';
		while (k > 0 && n < sizeof line - 1)
			line[n++] = num[--k];
	}
	line[n++] = '\n';
	(void)!write(2, line, n);
}

static size_t cpuid_xsave_max(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned int a, b, c, d;
	if (__get_cpuid_max(0, NULL) < 0xD)
		return 0;
	__cpuid_count(0xD, 0, a, b, c, d);
	return b > c ? b : c; /* EBX: size for XCR0's features; ECX: for all supported */
#else
	return 0;
#endif
}

static size_t cap(void)
{
	if (!side_cap) {
		size_t want = cpuid_xsave_max();
		if (want < SIDE_MIN)
			want = SIDE_MIN;
		side_cap = (want + 4095) & ~(size_t)4095;
	}
	return side_cap;
}

static unsigned char *new_side(void)
{
	void *p = mmap(NULL, cap(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Returns the slot for key, claiming one (with a zeroed side buffer) if create is set. */
static struct slot *lookup(uintptr_t key, int create)
{
	size_t h = (key >> 6) * 0x9E3779B97F4A7C15ull % NSLOTS;
	for (int i = 0; i < PROBE; i++) {
		struct slot *s = &slots[(h + i) % NSLOTS];
		if (__atomic_load_n(&s->key, __ATOMIC_ACQUIRE) == key)
			return s;
	}
	if (!create)
		return NULL;
	struct slot *victim = &slots[h];
	for (int i = 0; i < PROBE; i++) {
		struct slot *s = &slots[(h + i) % NSLOTS];
		uintptr_t zero = 0;
		if (__atomic_compare_exchange_n(&s->key, &zero, key, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			victim = s;
			goto claimed;
		}
	}
	__atomic_store_n(&victim->key, key, __ATOMIC_RELEASE);
claimed:
	if (!victim->buf)
		victim->buf = new_side();
	else
		memset(victim->buf, 0, cap());
	if (!victim->buf) {
		__atomic_store_n(&victim->key, 0, __ATOMIC_RELEASE);
		return NULL;
	}
	return victim;
}

/* Learns the host's XSAVE size with a harmless full-size GET on pid into buf. */
static long full_get(pid_t pid, unsigned char *buf)
{
	struct iovec k = {.iov_base = buf, .iov_len = cap()};
	long r = real_ptrace(PTRACE_GETREGSET, pid, (void *)(uintptr_t)NT_X86_XSTATE, &k);
	if (r == 0)
		__atomic_store_n(&xsize, k.iov_len, __ATOMIC_RELEASE);
	return r;
}

static long xstate_get(pid_t pid, struct iovec *iov)
{
	size_t known = __atomic_load_n(&xsize, __ATOMIC_ACQUIRE);
	/* UML's buffer is big enough for the whole state: nothing to do. */
	if ((known && iov->iov_len >= known) || iov->iov_len >= cap())
		return real_ptrace(PTRACE_GETREGSET, pid, (void *)(uintptr_t)NT_X86_XSTATE, iov);
	struct slot *s = lookup((uintptr_t)iov->iov_base, 1);
	if (!s)
		return real_ptrace(PTRACE_GETREGSET, pid, (void *)(uintptr_t)NT_X86_XSTATE, iov);
	long r = full_get(pid, s->buf);
	if (r != 0)
		return r;
	size_t n = __atomic_load_n(&xsize, __ATOMIC_ACQUIRE);
	if (n > iov->iov_len)
		n = iov->iov_len;
	memcpy(iov->iov_base, s->buf, n);
	iov->iov_len = n;
	say("GET via side buffer: uml_len host_len", (long)n, (long)xsize);
	return 0;
}

static long xstate_set(pid_t pid, struct iovec *iov)
{
	size_t known = __atomic_load_n(&xsize, __ATOMIC_ACQUIRE);
	if (!known) {
		unsigned char *scratch = new_side();
		if (scratch) {
			full_get(pid, scratch);
			munmap(scratch, cap());
		}
		known = __atomic_load_n(&xsize, __ATOMIC_ACQUIRE);
	}
	if (!known || iov->iov_len >= known)
		return real_ptrace(PTRACE_SETREGSET, pid, (void *)(uintptr_t)NT_X86_XSTATE, iov);
	struct slot *s = lookup((uintptr_t)iov->iov_base, 1);
	if (!s)
		return real_ptrace(PTRACE_SETREGSET, pid, (void *)(uintptr_t)NT_X86_XSTATE, iov);
	/* A buffer UML filled itself (a copy, or its boot-time template) has no saved
	 * upper state: zeros there are the init state of AVX-512/AMX components. */
	memcpy(s->buf, iov->iov_base, iov->iov_len);
	struct iovec k = {.iov_base = s->buf, .iov_len = known};
	long r = real_ptrace(PTRACE_SETREGSET, pid, (void *)(uintptr_t)NT_X86_XSTATE, &k);
	if (r == 0) {
		size_t n = k.iov_len < iov->iov_len ? k.iov_len : iov->iov_len;
		iov->iov_len = n;
	}
	int err = errno;
	say("SET via side buffer: uml_len result", (long)iov->iov_len, r == 0 ? 0 : -err);
	errno = err;
	return r;
}

/* glibc declares ptrace as variadic; PTRACE_GETREGSET/SETREGSET take pid, addr, data. */
long ptrace(enum __ptrace_request req, ...)
{
	va_list ap;
	va_start(ap, req);
	pid_t pid = va_arg(ap, pid_t);
	void *addr = va_arg(ap, void *);
	void *data = va_arg(ap, void *);
	va_end(ap);

	if ((req == PTRACE_GETREGSET || req == PTRACE_SETREGSET) &&
	    (uintptr_t)addr == NT_X86_XSTATE && data != NULL) {
		struct iovec *iov = data;
		int saved = errno;
		long r = req == PTRACE_GETREGSET ? xstate_get(pid, iov) : xstate_set(pid, iov);
		if (r == 0)
			errno = saved;
		return r;
	}
	return real_ptrace(req, pid, addr, data);
}
