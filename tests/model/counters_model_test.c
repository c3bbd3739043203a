// SPDX-License-Identifier: GPL-2.0-only
/*
 * The test machine's counting silicon, checked from the test kernel (L1):
 * QEMU TCG with the qemu/ series, -cpu ...,+aperfmperf,+perfmon-v2,pmu=on.
 *
 *   counters_model_test [TEST...]       (default: all; exit 0 = pass)
 *   counters_model_test --list          (the test names)
 *
 * APERF/MPERF through /dev/cpu/1/msr, on CPU 1:
 *   mperf_tracks_tsc   a busy loop: MPERF advances with the TSC
 *   mperf_stops_halted a sleep (CPU 1 halts): MPERF barely moves
 *   aperf_ratio        APERF/MPERF is the model's 5/4
 *   aperf_ratio_change the host changes the ratio while the guest runs
 *                      (make check: qom-set aperf-permille 1500, then back
 *                      to 1250, on the markers this test prints)
 *   writes_stick       a written value reads back plus what counted since
 *   wrap_clears_other  APERF wrapping clears MPERF, and the reverse
 * The PMU through perf_event_open, on CPU 1:
 *   insns_exact        user instructions and branches of a known loop
 *   cycles_track_tsc   cycles advance with the TSC at the APERF rate
 *   sampling_pmis      a sampling event gets its overflow interrupts
 *   rdpmc_user         RDPMC from user space (CR4.PCE) reads the counter
 * and, run on its own (not in the default list):
 *   migration          prints a marker on which the host migrates the
 *                      machine to a file and resumes it in a QEMU whose
 *                      APERF runs at 3/2 (make check's model layer): the
 *                      counters and a perf count go on from their values
 *
 * The write tests move the host's own APERF/MPERF: the kernel may then
 * switch off frequency invariance for the rest of this boot, which is
 * why the model has a boot of its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MSR_IA32_MPERF	0xe7
#define MSR_IA32_APERF	0xe8
#define CPU		1
/* The model's default "aperf-permille" */
#define RATIO		1.25

static int msr_fd;
static int failures;

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			printf("  FAIL %s:%d: ", __func__, __LINE__);	\
			printf(__VA_ARGS__);				\
			printf("\n");					\
			failures++;					\
			return;						\
		}							\
	} while (0)

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return lo | (uint64_t)hi << 32;
}

static uint64_t rdmsr(uint32_t msr)
{
	uint64_t v;

	if (pread(msr_fd, &v, 8, msr) != 8) {
		perror("read msr");
		exit(2);
	}
	return v;
}

static void wrmsr(uint32_t msr, uint64_t v)
{
	if (pwrite(msr_fd, &v, 8, msr) != 8) {
		perror("write msr");
		exit(2);
	}
}

/* Spin in C0 for @cycles TSC cycles. */
static void spin(uint64_t cycles)
{
	uint64_t end = rdtsc() + cycles;

	while (rdtsc() < end)
		;
}

struct sample {
	uint64_t tsc, mperf, aperf;
};

static struct sample sample(void)
{
	struct sample s;

	s.tsc = rdtsc();
	s.mperf = rdmsr(MSR_IA32_MPERF);
	s.aperf = rdmsr(MSR_IA32_APERF);
	return s;
}

static uint64_t tsc_hz;

static void calibrate(void)
{
	struct timespec a, b;
	uint64_t t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &a);
	t0 = rdtsc();
	do {
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000000000L + b.tv_nsec - a.tv_nsec < 200000000L);
	t1 = rdtsc();
	tsc_hz = (t1 - t0) * 1000000000ull /
		 ((b.tv_sec - a.tv_sec) * 1000000000ull + b.tv_nsec - a.tv_nsec);
	printf("  TSC %.1f MHz\n", tsc_hz / 1e6);
}

/*
 * A pread of /dev/cpu/1/msr on CPU 1 is a syscall and an RDMSR: the two
 * ends of an interval are read up to READ_SKEW TSC cycles (a few ms
 * under TCG, when the host deschedules the vCPU thread) from the TSC
 * reads next to them.
 */
#define READ_SKEW(hz)	((hz) / 200)

static void mperf_tracks_tsc(void)
{
	struct sample a = sample(), b;
	uint64_t dt, dm;

	spin(tsc_hz / 5);
	b = sample();
	dt = b.tsc - a.tsc;
	dm = b.mperf - a.mperf;
	printf("  busy: TSC +%lu, MPERF +%lu (%.2f%%)\n", dt, dm, 100.0 * dm / dt);
	CHECK(dm <= dt + READ_SKEW(tsc_hz) && dm >= dt - dt / 50 - READ_SKEW(tsc_hz),
	      "MPERF +%lu over TSC +%lu", dm, dt);
}

static void mperf_stops_halted(void)
{
	struct sample a = sample(), b;
	uint64_t dt, dm;

	usleep(300 * 1000);
	b = sample();
	dt = b.tsc - a.tsc;
	dm = b.mperf - a.mperf;
	printf("  sleeping: TSC +%lu, MPERF +%lu (%.2f%%)\n", dt, dm, 100.0 * dm / dt);
	/*
	 * Timer ticks and whatever else wakes CPU 1 run in C0, and under TCG
	 * each wake-up costs tens of microseconds: 5-11% measured here. A
	 * CPU that did not halt would show ~100%, as in mperf_tracks_tsc.
	 */
	CHECK(dm < dt / 4, "MPERF +%lu while halted for TSC +%lu", dm, dt);
	CHECK(b.aperf - a.aperf < dt / 3, "APERF +%lu while halted", b.aperf - a.aperf);
}

static void aperf_ratio(void)
{
	struct sample a = sample(), b;
	double r;

	spin(tsc_hz / 5);
	b = sample();
	r = (double)(b.aperf - a.aperf) / (b.mperf - a.mperf);
	printf("  APERF/MPERF %.4f (model %.4f)\n", r, RATIO);
	/*
	 * Each end reads MPERF, then APERF a syscall later: under TCG that
	 * gap varies by up to a few ms (the host deschedules the vCPU), so
	 * within 1% over 200 ms.
	 */
	CHECK(r > RATIO * 0.99 && r < RATIO * 1.01, "ratio %.4f", r);
}

static double ratio_over(uint64_t cycles)
{
	struct sample a = sample(), b;

	spin(cycles);
	b = sample();
	return (double)(b.aperf - a.aperf) / (b.mperf - a.mperf);
}

/* Sample 50 ms intervals until the ratio is @want (1%), or 20 s passed. */
static double wait_ratio(double want)
{
	double r = 0;
	int i;

	for (i = 0; i < 400; i++) {
		r = ratio_over(tsc_hz / 20);
		if (r > want * 0.99 && r < want * 1.01)
			break;
	}
	return r;
}

static void aperf_ratio_change(void)
{
	double r;

	r = ratio_over(tsc_hz / 10);
	printf("  before: %.4f\n", r);
	CHECK(r > RATIO * 0.99 && r < RATIO * 1.01, "ratio %.4f before the change", r);
	printf("@@MODEL-SET-RATIO@@\n");
	r = wait_ratio(1.5);
	printf("  after aperf-permille=1500: %.4f\n", r);
	CHECK(r > 1.5 * 0.99 && r < 1.5 * 1.01, "ratio %.4f, never 1.5", r);
	printf("@@MODEL-RATIO-SEEN@@\n");
	r = wait_ratio(RATIO);
	printf("  back to 1250: %.4f\n", r);
	CHECK(r > RATIO * 0.99 && r < RATIO * 1.01, "ratio %.4f, never back to 1.25", r);
}

static void writes_stick(void)
{
	const uint64_t m = 1ull << 40, a = 3ull << 40;
	uint64_t t0, rm, ra, dt;

	t0 = rdtsc();
	wrmsr(MSR_IA32_MPERF, m);
	wrmsr(MSR_IA32_APERF, a);
	rm = rdmsr(MSR_IA32_MPERF);
	ra = rdmsr(MSR_IA32_APERF);
	dt = rdtsc() - t0;
	printf("  wrote MPERF %#lx APERF %#lx, read %#lx %#lx within TSC +%lu\n", m, a, rm, ra, dt);
	CHECK(rm >= m && rm <= m + dt, "MPERF %#lx after writing %#lx", rm, m);
	CHECK(ra >= a && ra <= a + dt * 2, "APERF %#lx after writing %#lx", ra, a);
}

static const char *msr_name(uint32_t msr)
{
	return msr == MSR_IA32_APERF ? "APERF" : "MPERF";
}

/* What @msr can count in @dt TSC cycles: APERF runs at 5/4 of the TSC. */
static uint64_t at_most(uint32_t msr, uint64_t dt)
{
	return msr == MSR_IA32_APERF ? dt * 2 : dt;
}

/*
 * @wraps starts 10000 ticks short of 2^64, @other far from it: after the
 * wrap, @wraps counts from 0 and @other, cleared then, too.
 */
static void wrap_and_clear(uint32_t wraps, uint32_t other)
{
	uint64_t t0, w, o, dt;

	wrmsr(other, 1ull << 50);
	t0 = rdtsc();
	wrmsr(wraps, -10000ull);
	spin(tsc_hz / 100);
	w = rdmsr(wraps);
	o = rdmsr(other);
	dt = rdtsc() - t0;
	printf("  %s from 2^64-10000: %s %lu, %s %lu after TSC +%lu\n", msr_name(wraps),
	       msr_name(wraps), w, msr_name(other), o, dt);
	CHECK(w < at_most(wraps, dt), "%s %lu did not wrap", msr_name(wraps), w);
	CHECK(o < at_most(other, dt), "%s %lu was not cleared when %s wrapped",
	      msr_name(other), o, msr_name(wraps));
}

static void wrap_clears_other(void)
{
	wrap_and_clear(MSR_IA32_APERF, MSR_IA32_MPERF);
	wrap_and_clear(MSR_IA32_MPERF, MSR_IA32_APERF);
}

static int perf_open(uint32_t type, uint64_t config, uint64_t period, int exclude_kernel)
{
	struct perf_event_attr attr = {
		.size = sizeof(attr),
		.type = type,
		.config = config,
		.disabled = 1,
		.exclude_kernel = exclude_kernel,
		.exclude_hv = 1,
		.sample_period = period,
	};
	int fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);

	if (fd < 0) {
		printf("  perf_event_open(type %u, config %#lx): %s\n", type, config,
		       strerror(errno));
		exit(2);
	}
	return fd;
}

static uint64_t perf_read(int fd)
{
	uint64_t v;

	if (read(fd, &v, 8) != 8) {
		perror("read perf event");
		exit(2);
	}
	return v;
}

#define LOOPS 1000000ul

/* 2 instructions and 1 branch per iteration. */
static void __attribute__((noinline)) known_loop(unsigned long n)
{
	asm volatile("1: dec %0\n\tjnz 1b" : "+r"(n) : : "cc");
}

static void insns_exact(void)
{
	int fi = perf_open(PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, 0, 1);
	int fb = perf_open(PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_INSTRUCTIONS, 0, 1);
	uint64_t i, b;

	ioctl(fi, PERF_EVENT_IOC_ENABLE, 0);
	ioctl(fb, PERF_EVENT_IOC_ENABLE, 0);
	known_loop(LOOPS);
	ioctl(fb, PERF_EVENT_IOC_DISABLE, 0);
	ioctl(fi, PERF_EVENT_IOC_DISABLE, 0);
	i = perf_read(fi);
	b = perf_read(fb);
	printf("  loop of %lu: %lu user instructions (loop %lu), %lu branches (loop %lu)\n",
	       LOOPS, i, 2 * LOOPS, b, LOOPS);
	/*
	 * Besides the loop, user mode runs the ioctl() wrappers between
	 * the enable and the disable: a few dozen instructions, a handful
	 * of branches. Interrupts that hit the loop add nothing (they run
	 * in the kernel), so the loop itself must be exact.
	 */
	CHECK(i >= 2 * LOOPS && i <= 2 * LOOPS + 200, "instructions %lu", i);
	CHECK(b >= LOOPS && b <= LOOPS + 50, "branches %lu", b);
	close(fi);
	close(fb);
}

static void cycles_track_tsc(void)
{
	int fc = perf_open(PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, 0, 0);
	uint64_t t0, dt, c;

	ioctl(fc, PERF_EVENT_IOC_ENABLE, 0);
	t0 = rdtsc();
	spin(tsc_hz / 5);
	dt = rdtsc() - t0;
	ioctl(fc, PERF_EVENT_IOC_DISABLE, 0);
	c = perf_read(fc);
	printf("  busy TSC +%lu: %lu cycles (%.3f x TSC, model %.3f)\n", dt, c,
	       (double)c / dt, RATIO);
	/* The ioctls run in C0 too; the fold is at each PMU access. */
	CHECK(c >= dt * RATIO * 0.97 && c <= (dt + READ_SKEW(tsc_hz)) * RATIO,
	      "cycles %lu over TSC %lu", c, dt);
	close(fc);
}

static uint64_t pmis(void)
{
	FILE *f = fopen("/proc/interrupts", "r");
	char line[512];
	uint64_t n = 0, c0, c1;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, " PMI: %lu %lu", &c0, &c1) == 2)
			n = c0 + c1;
	}
	if (f)
		fclose(f);
	return n;
}

static void sampling_pmis(void)
{
	const uint64_t period = 100000;
	int fi = perf_open(PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, period, 1);
	uint64_t p0 = pmis(), p1, n;

	ioctl(fi, PERF_EVENT_IOC_ENABLE, 0);
	known_loop(10 * LOOPS);
	ioctl(fi, PERF_EVENT_IOC_DISABLE, 0);
	p1 = pmis();
	n = perf_read(fi);
	printf("  period %lu over %lu instructions: %lu PMIs (expected ~%lu)\n", period, n,
	       p1 - p0, n / period);
	/*
	 * The model folds counters from a 100 us timer: an overflow is
	 * noticed late, never missed, and the kernel re-arms each period
	 * from its PMI, so at most one PMI per period, and most periods
	 * get one.
	 */
	CHECK(p1 - p0 >= n / period / 2 && p1 - p0 <= n / period + 2,
	      "%lu PMIs for %lu periods", p1 - p0, n / period);
	close(fi);
}

static void rdpmc_user(void)
{
	int fi = perf_open(PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, 0, 1);
	struct perf_event_mmap_page *pc;
	uint64_t v, r, lo, hi;
	uint32_t idx;
	int64_t raw;

	pc = mmap(NULL, sysconf(_SC_PAGESIZE), PROT_READ, MAP_SHARED, fi, 0);
	CHECK(pc != MAP_FAILED, "mmap perf page: %s", strerror(errno));
	ioctl(fi, PERF_EVENT_IOC_ENABLE, 0);
	known_loop(LOOPS);
	idx = pc->index;
	CHECK(pc->cap_user_rdpmc && idx, "no user RDPMC (cap %d, index %u)",
	      (int)pc->cap_user_rdpmc, idx);
	asm volatile("rdpmc" : "=a"(lo), "=d"(hi) : "c"(idx - 1));
	/* The counter started at minus a period: sign-extend its width. */
	raw = (int64_t)((lo | hi << 32) << (64 - pc->pmc_width)) >> (64 - pc->pmc_width);
	r = raw + pc->offset;
	ioctl(fi, PERF_EVENT_IOC_DISABLE, 0);
	v = perf_read(fi);
	printf("  RDPMC(%u) %lu, read() %lu\n", idx - 1, r, v);
	CHECK(r >= 2 * LOOPS && r <= v, "RDPMC %lu vs %lu", r, v);
	munmap(pc, sysconf(_SC_PAGESIZE));
	close(fi);
}

static void migration(void)
{
	int fi = perf_open(PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, 0, 1);
	uint64_t i0, i1;
	struct sample a, b;
	double r;

	ioctl(fi, PERF_EVENT_IOC_ENABLE, 0);
	known_loop(LOOPS);
	a = sample();
	i0 = perf_read(fi);
	printf("  before: MPERF %lu APERF %lu, %lu user instructions\n", a.mperf, a.aperf, i0);
	printf("@@MODEL-MIGRATE@@\n");
	/* The destination's APERF runs at 3/2: the ratio says where this is. */
	r = wait_ratio(1.5);
	CHECK(r > 1.5 * 0.99 && r < 1.5 * 1.01, "never resumed at 3/2 (ratio %.4f)", r);
	known_loop(LOOPS);
	b = sample();
	i1 = perf_read(fi);
	ioctl(fi, PERF_EVENT_IOC_DISABLE, 0);
	printf("  after: MPERF %lu APERF %lu, %lu user instructions; TSC +%lu\n", b.mperf,
	       b.aperf, i1, b.tsc - a.tsc);
	/* Went on from the saved values, no faster than the TSC (at 3/2). */
	CHECK(b.mperf > a.mperf && b.mperf - a.mperf <= b.tsc - a.tsc + READ_SKEW(tsc_hz),
	      "MPERF %lu -> %lu over TSC +%lu", a.mperf, b.mperf, b.tsc - a.tsc);
	CHECK(b.aperf > a.aperf && b.aperf - a.aperf <= (b.tsc - a.tsc) * 2,
	      "APERF %lu -> %lu over TSC +%lu", a.aperf, b.aperf, b.tsc - a.tsc);
	/* All of this process's user instructions count, waits included. */
	CHECK(i1 >= i0 + 2 * LOOPS && i1 - i0 < (b.tsc - a.tsc) * 4,
	      "instructions %lu -> %lu over TSC +%lu", i0, i1, b.tsc - a.tsc);
	close(fi);
}

static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
	{ "mperf_tracks_tsc", mperf_tracks_tsc },
	{ "mperf_stops_halted", mperf_stops_halted },
	{ "aperf_ratio", aperf_ratio },
	{ "aperf_ratio_change", aperf_ratio_change },
	{ "writes_stick", writes_stick },
	{ "wrap_clears_other", wrap_clears_other },
	{ "insns_exact", insns_exact },
	{ "cycles_track_tsc", cycles_track_tsc },
	{ "sampling_pmis", sampling_pmis },
	{ "rdpmc_user", rdpmc_user },
};

int main(int argc, char **argv)
{
	cpu_set_t set;
	unsigned int i;
	int j, ran = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
			printf("%s\n", tests[i].name);
		return 0;
	}
	CPU_ZERO(&set);
	CPU_SET(CPU, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("pin to CPU 1");
		return 2;
	}
	msr_fd = open("/dev/cpu/1/msr", O_RDWR);
	if (msr_fd < 0) {
		perror("/dev/cpu/1/msr");
		return 2;
	}
	calibrate();
	if (argc == 2 && !strcmp(argv[1], "migration")) {
		printf("migration\n");
		migration();
		printf("%s migration\n", failures ? "not ok" : "ok");
		return failures ? 1 : 0;
	}
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		int before = failures, want = argc < 2;

		for (j = 1; j < argc; j++)
			want |= !strcmp(argv[j], tests[i].name);
		if (!want)
			continue;
		printf("%s\n", tests[i].name);
		tests[i].fn();
		printf("%s %s\n", failures > before ? "not ok" : "ok", tests[i].name);
		ran++;
	}
	printf("%d tests, %d failed\n", ran, failures);
	return failures ? 1 : ran ? 0 : 2;
}
