// SPDX-License-Identifier: GPL-2.0-only
/*
 * The hardware modes, RUN and ENTRY, at the real hook points.
 *
 * On the test machine's counters (make check's CPU model: MPERF at the
 * TSC rate while not halted, APERF at 5/4 of it, writable, each cleared
 * when the other wraps, like silicon). Checked there:
 *  - guests sharing one CPU, one in RUN and one in ENTRY, each count only
 *    their own time: together no more than the wall time, APERF at 5/4;
 *  - with vCPUs of two VMs migrating across the CPUs and preempted, and
 *    idle threads keeping both CPUs out of halt (so that the truth is
 *    the TSC from a baseline), the host's view through /dev/cpu/N/msr
 *    never runs ahead of the truth and trails it by no more than the
 *    switch windows, and the scheduler tick's sample (/proc/cpuinfo MHz)
 *    shows the 5/4 ratio;
 *  - a RUN vCPU's MPERF matches its live time in the stats;
 *  - KVM_SET_MSRS values survive a run, and wrap like the hardware;
 *  - values near 2^64 (one counter wraps, which clears the other) never
 *    reach the MSRs: the host's view stays monotonic and bounded, and
 *    the guest still sees the SDM's wrap;
 *  - guest reads do not exit, guest writes do; RUN and ENTRY both.
 * Without host APERFMPERF the test skips: the EMULATE tests cover that.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <asm/msr-index.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

#define BUSY_CHUNK		2000000ull
#define READS			1000
/*
 * Upper bound, in TSC cycles, of one switch window on the host (read one
 * side's values, write the other's; IRQs off) and of the skew between a
 * userspace RDTSC and a /dev/cpu/N/msr read next to it (a syscall and an
 * IPI, a few ms under TCG when the other CPU is busy).
 */
#define WINDOW			100000ull
#define READ_SKEW		vcounters_ms_to_tsc(tsc_khz, 20)

static unsigned long tsc_khz;

static void guest_busy(void)
{
	volatile u64 i;

	for (;;) {
		GUEST_SYNC_ARGS(0, rdtsc(), rdmsr(MSR_IA32_MPERF), rdmsr(MSR_IA32_APERF), 0);
		for (i = 0; i < BUSY_CHUNK; i++)
			;
	}
}

/* APERF advanced 5/4 as fast as MPERF, within the read skew of the ends. */
static void check_ratio(const char *what, u64 aperf, u64 mperf)
{
	u64 want = mperf + mperf / 4;

	TEST_ASSERT(aperf <= want + want / 50 + READ_SKEW / 4 &&
		    aperf + want / 50 + READ_SKEW / 4 >= want,
		    "%s: APERF %lu, MPERF %lu: not 5/4", what, aperf, mperf);
}

/* A vCPU thread: runs its vCPU until told to stop, migrating if asked. */
struct runner {
	struct kvm_vcpu *vcpu;
	pthread_t thread;
	int cpu;		/* pinned there; -1: flip between 0 and 1 */
	unsigned int pause_us;	/* outside KVM_RUN after each exit */
	volatile bool stop;
	u64 runs;
};

static void *run_vcpu(void *arg)
{
	struct runner *r = arg;
	struct ucall uc;

	if (r->cpu >= 0)
		pin_self_to_cpu(r->cpu);
	while (!r->stop) {
		if (r->cpu < 0)
			pin_self_to_cpu(r->runs & 1);
		vcpu_run(r->vcpu);
		TEST_ASSERT(get_ucall(r->vcpu, &uc) == UCALL_SYNC, "unexpected exit: %s",
			    exit_reason_str(r->vcpu->run->exit_reason));
		r->runs++;
		if (r->pause_us)
			usleep(r->pause_us);
	}
	return NULL;
}

static void start(struct runner *r)
{
	pthread_create(&r->thread, NULL, run_vcpu, r);
}

static void finish(struct runner *r)
{
	r->stop = true;
	pthread_join(r->thread, NULL);
}

/* Guests sharing one CPU each count only their own time. */
static void test_shared_cpu(void)
{
	struct kvm_vcpu *va, *vb;
	struct kvm_vm *a = vcounters_vm_create(KVM_VCOUNTERS_MODE_RUN, 1, &va, guest_busy);
	struct kvm_vm *b = vcounters_vm_create(KVM_VCOUNTERS_MODE_ENTRY, 1, &vb, guest_busy);
	struct runner ra = { .vcpu = va, .cpu = 1 }, rb = { .vcpu = vb, .cpu = 1 };
	struct kvm_vcounters_vcpu_state sa, sb;
	u64 t0, wall;

	TEST_ASSERT_EQ(vcounters_state(va).aperfmperf_mode, KVM_VCOUNTERS_MODE_RUN);
	TEST_ASSERT_EQ(vcounters_state(vb).aperfmperf_mode, KVM_VCOUNTERS_MODE_ENTRY);
	t0 = rdtsc();
	start(&ra);
	start(&rb);
	usleep(1500 * 1000);
	finish(&ra);
	finish(&rb);
	wall = rdtsc() - t0;
	sa = vcounters_state(va);
	sb = vcounters_state(vb);
	ksft_print_msg("shared CPU: wall %lu, RUN MPERF %llu (%llu%%), ENTRY MPERF %llu (%llu%%)\n",
		       wall, sa.mperf, sa.mperf * 100 / wall, sb.mperf, sb.mperf * 100 / wall);
	TEST_ASSERT(sa.mperf + sb.mperf <= wall, "two guests on one CPU counted %llu + %llu > %lu",
		    sa.mperf, sb.mperf, wall);
	TEST_ASSERT(sa.mperf > wall / 10 && sb.mperf > wall / 10,
		    "a guest barely counted: %llu, %llu of %lu", sa.mperf, sb.mperf, wall);
	check_ratio("RUN", sa.aperf, sa.mperf);
	check_ratio("ENTRY", sb.aperf, sb.mperf);
	kvm_vm_free(a);
	kvm_vm_free(b);
}

static int msr_fd[2];

/* The host's APERF and MPERF of @cpu, bracketed by this CPU's TSC. */
static void host_view(int cpu, u64 *t0, u64 *aperf, u64 *mperf, u64 *t1)
{
	pin_self_to_cpu(cpu);
	*t0 = rdtsc();
	TEST_ASSERT(pread(msr_fd[cpu], aperf, 8, MSR_IA32_APERF) == 8, "read APERF");
	TEST_ASSERT(pread(msr_fd[cpu], mperf, 8, MSR_IA32_MPERF) == 8, "read MPERF");
	*t1 = rdtsc();
}

/*
 * The tick's sample: /proc/cpuinfo's MHz is cpu_khz * APERF/MPERF. A fresh
 * sample shows 5/4, a stale one (idle CPU) the base. Counts both, and the
 * lines that show neither in @odd: the tick reads APERF, then MPERF, and
 * the test machine's counters follow wall-clock time, so a host that
 * deschedules the vCPU thread between the two reads skews that one sample
 * (seen under load, at 1.6-2.3x); a switch that broke the host's view
 * would skew every sample after it.
 */
static int cpuinfo_ratio_seen(u64 *lines, u64 *odd)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	int seen = 0;
	double mhz, want = tsc_khz * 1.25 / 1000, base = tsc_khz / 1000.0;

	TEST_ASSERT(f, "open /proc/cpuinfo");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "cpu MHz : %lf", &mhz) != 1)
			continue;
		++*lines;
		if (!(mhz > want * 0.98 && mhz < want * 1.02) &&
		    !(mhz > base * 0.98 && mhz < base * 1.02)) {
			ksft_print_msg("cpu MHz %.3f: neither 5/4 of %.3f nor the base\n", mhz,
				       base);
			++*odd;
		}
		seen += mhz > want * 0.98 && mhz < want * 1.02;
	}
	fclose(f);
	return seen;
}

static volatile bool spinners_stop;

/* Keeps one CPU out of halt, running only when nothing else would. */
static void *spin_idle(void *arg)
{
	struct sched_param none = { 0 };

	pin_self_to_cpu((int)(long)arg);
	TEST_ASSERT(!sched_setscheduler(0, SCHED_IDLE, &none), "SCHED_IDLE");
	while (!spinners_stop)
		;
	return NULL;
}

/*
 * vCPUs of two VMs, busy and pausing, migrating and preempting each
 * other on both CPUs, while the host's view is sampled against the truth:
 * with both CPUs kept out of halt, MPERF advances with the TSC from a
 * baseline taken before any guest ran.
 */
static void test_host_view(void)
{
	struct kvm_vcpu *va[2], *vb[2];
	struct kvm_vm *a = vcounters_vm_create(KVM_VCOUNTERS_MODE_RUN, 2, va, guest_busy);
	struct kvm_vm *b = vcounters_vm_create(KVM_VCOUNTERS_MODE_ENTRY, 2, vb, guest_busy);
	struct runner r[4] = {
		{ .vcpu = va[0], .cpu = -1 }, { .vcpu = va[1], .cpu = -1, .pause_us = 2000 },
		{ .vcpu = vb[0], .cpu = -1 }, { .vcpu = vb[1], .cpu = 0, .pause_us = 1000 },
	};
	u64 t0, t1, aperf, mperf, ops, lag, max_lag[2] = { 0, 0 }, seen = 0;
	u64 live, mhz_seen = 0, mhz_lines = 0, mhz_odd = 0, base_t[2], base_a[2], base_m[2];
	pthread_t spinner[2];
	int i, cpu, n;

	for (cpu = 0; cpu < 2; cpu++) {
		char path[64];

		snprintf(path, sizeof(path), "/dev/cpu/%d/msr", cpu);
		msr_fd[cpu] = open(path, O_RDONLY);
		__TEST_REQUIRE(msr_fd[cpu] >= 0, "needs /dev/cpu/N/msr (CONFIG_X86_MSR)");
		pthread_create(&spinner[cpu], NULL, spin_idle, (void *)(long)cpu);
	}
	usleep(100 * 1000);
	for (cpu = 0; cpu < 2; cpu++)
		host_view(cpu, &base_t[cpu], &base_a[cpu], &base_m[cpu], &t1);
	for (i = 0; i < 4; i++)
		start(&r[i]);
	for (n = 0; n < 40; n++) {
		for (cpu = 0; cpu < 2; cpu++) {
			u64 truth0, truth1;

			host_view(cpu, &t0, &aperf, &mperf, &t1);
			truth0 = base_m[cpu] + (t0 - base_t[cpu]);
			truth1 = base_m[cpu] + (t1 - base_t[cpu]);
			/* The host's count never runs ahead of the truth ... */
			TEST_ASSERT(mperf <= truth1 &&
				    aperf - base_a[cpu] <= (truth1 - base_m[cpu]) * 5 / 4 + 1,
				    "CPU %d: host APERF %lu MPERF %lu ahead of the truth %lu", cpu,
				    aperf, mperf, truth1);
			lag = truth0 > mperf ? truth0 - mperf : 0;
			max_lag[cpu] = lag > max_lag[cpu] ? lag : max_lag[cpu];
			seen++;
		}
		mhz_seen += cpuinfo_ratio_seen(&mhz_lines, &mhz_odd);
		usleep(50 * 1000);
	}
	for (i = 0; i < 4; i++)
		finish(&r[i]);
	spinners_stop = true;
	for (cpu = 0; cpu < 2; cpu++)
		pthread_join(spinner[cpu], NULL);

	/* ... and trails it by the switch windows at most. */
	ops = 0;
	for (i = 0; i < 2; i++) {
		ops += vcpu_get_stat(va[i], vcounters_msr_accesses_run) / 4;
		ops += vcpu_get_stat(vb[i], vcounters_msr_accesses_entry) / 4;
	}
	ksft_print_msg("host view: %lu samples, %lu switches, lag CPU0 %lu CPU1 %lu cycles, "
		       "runs %lu/%lu/%lu/%lu, 5/4 in /proc/cpuinfo %lu of %lu times (%lu odd)\n",
		       seen, ops, max_lag[0], max_lag[1], r[0].runs, r[1].runs, r[2].runs,
		       r[3].runs, mhz_seen, mhz_lines, mhz_odd);
	for (cpu = 0; cpu < 2; cpu++)
		TEST_ASSERT(max_lag[cpu] <= ops * WINDOW + READ_SKEW,
			    "CPU %d: host MPERF lags the truth by %lu after %lu switches", cpu,
			    max_lag[cpu], ops);
	TEST_ASSERT(mhz_seen > 0, "the tick never sampled the 5/4 ratio");
	TEST_ASSERT(mhz_odd * 10 <= mhz_lines, "%lu of %lu cpu MHz samples neither 5/4 nor the base",
		    mhz_odd, mhz_lines);

	/* A RUN vCPU's MPERF is its live time. */
	for (i = 0; i < 2; i++) {
		struct kvm_vcounters_vcpu_state st = vcounters_state(va[i]);

		live = vcpu_get_stat(va[i], vcounters_live_ns) * (tsc_khz / 1000) / 1000;
		TEST_ASSERT(st.mperf <= live + live / 20 + WINDOW && st.mperf >= live - live / 20,
			    "RUN vCPU %d: MPERF %llu, live %lu cycles", i, st.mperf, live);
		check_ratio("RUN vCPU", st.aperf, st.mperf);
		live = vcpu_get_stat(vb[i], vcounters_live_ns) * (tsc_khz / 1000) / 1000;
		st = vcounters_state(vb[i]);
		TEST_ASSERT(st.mperf <= live + WINDOW, "ENTRY vCPU %d: MPERF %llu > live %lu", i,
			    st.mperf, live);
	}
	for (cpu = 0; cpu < 2; cpu++)
		close(msr_fd[cpu]);
	kvm_vm_free(a);
	kvm_vm_free(b);
}

/* Migration values survive a run in the MSRs, and wrap. */
static void test_set_msrs(u32 mode)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vcounters_vm_create(mode, 1, &vcpu, guest_busy);
	struct ucall uc;
	u64 start = ~0ull - 1000;

	vcpu_set_msr(vcpu, MSR_IA32_MPERF, start);
	vcpu_set_msr(vcpu, MSR_IA32_APERF, 12345);
	TEST_ASSERT_EQ(vcounters_state(vcpu).mperf, start);
	vcpu_run(vcpu);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_SYNC);
	vcpu_run(vcpu);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_SYNC);
	/*
	 * MPERF wrapped past 0 within the busy chunk and, as the SDM says,
	 * cleared APERF: both counted from the wrap on, APERF at 5/4.
	 */
	TEST_ASSERT(uc.args[2] < start && uc.args[2] < (1ull << 40),
		    "MPERF %lu did not wrap from %lu", uc.args[2], start);
	TEST_ASSERT(uc.args[3] <= (uc.args[2] + 1000) * 5 / 4 + WINDOW,
		    "APERF %lu was not cleared when MPERF wrapped (MPERF %lu)", uc.args[3],
		    uc.args[2]);
	TEST_ASSERT_EQ(vcpu_get_msr(vcpu, MSR_IA32_MPERF), vcounters_state(vcpu).mperf);
	kvm_vm_free(vm);
}

/* The host's MPERF of both CPUs, summed. */
static u64 host_mperf_sum(void)
{
	u64 sum = 0, t0, t1, a, m;
	int cpu;

	for (cpu = 0; cpu < 2; cpu++) {
		host_view(cpu, &t0, &a, &m, &t1);
		sum += m;
	}
	return sum;
}

/*
 * A guest value that wraps while loaded would make the hardware clear the
 * other counter, and the host's view (raw + offset) drop by ~2^63: the
 * kernel's frequency invariance then disables itself for the whole host.
 */
static void test_wrap_hazard(u32 mode)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vcounters_vm_create(mode, 1, &vcpu, guest_busy);
	u64 h0, h1, t0, elapsed;
	struct ucall uc;
	int i;

	for (i = 0; i < 2; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/dev/cpu/%d/msr", i);
		msr_fd[i] = open(path, O_RDONLY);
		__TEST_REQUIRE(msr_fd[i] >= 0, "needs /dev/cpu/N/msr (CONFIG_X86_MSR)");
	}
	vcpu_set_msr(vcpu, MSR_IA32_MPERF, 1ull << 63);
	vcpu_set_msr(vcpu, MSR_IA32_APERF, -10000ull);
	t0 = rdtsc();
	h0 = host_mperf_sum();
	for (i = 0; i < 3; i++) {
		vcpu_run(vcpu);
		TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_SYNC);
	}
	h1 = host_mperf_sum();
	elapsed = rdtsc() - t0;
	ksft_print_msg("mode %u, APERF from 2^64-10000, MPERF 2^63: guest APERF %lu MPERF %lu; "
		       "host MPERF +%ld over TSC +%lu (both CPUs)\n", mode, uc.args[3], uc.args[2],
		       (long)(h1 - h0), elapsed);
	TEST_ASSERT(h1 >= h0 && h1 - h0 <= 2 * elapsed + READ_SKEW,
		    "mode %u: host MPERF moved by %ld over TSC +%lu", mode, (long)(h1 - h0), elapsed);
	/* The guest saw its APERF wrap, and its MPERF cleared then. */
	TEST_ASSERT(uc.args[3] < (1ull << 40) && uc.args[2] < (1ull << 40),
		    "mode %u: guest APERF %#lx MPERF %#lx after APERF wrapped", mode, uc.args[3],
		    uc.args[2]);
	for (i = 0; i < 2; i++)
		close(msr_fd[i]);
	kvm_vm_free(vm);
}

static void guest_reads(void)
{
	u64 v;
	int i;

	for (i = 0; i < READS; i++)
		v = rdmsr(i & 1 ? MSR_IA32_APERF : MSR_IA32_MPERF);
	GUEST_SYNC(v);
	wrmsr(MSR_IA32_MPERF, 1ull << 50);
	GUEST_SYNC(rdmsr(MSR_IA32_MPERF));
	GUEST_DONE();
}

/* Real counters: reads pass through, writes exit. */
static void test_passthrough(u32 mode)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vcounters_vm_create(mode, 1, &vcpu, guest_reads);
	struct ucall uc;
	u64 exits, acc;

	TEST_ASSERT_EQ(vcounters_state(vcpu).aperfmperf_mode, mode);
	vcpu_run(vcpu);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_SYNC);
	exits = vcpu_get_stat(vcpu, exits);
	ksft_print_msg("mode %u: %d reads, %lu APERF/MPERF exits, %lu exits in all\n", mode,
		       READS, vcpu_get_stat(vcpu, vcounters_msr_exits), exits);
	TEST_ASSERT_EQ(vcpu_get_stat(vcpu, vcounters_msr_exits), 0);
	TEST_ASSERT(exits < READS / 10, "%lu exits for %d passed-through reads", exits, READS);
	acc = vcpu_get_stat(vcpu, vcounters_msr_accesses_run);
	vcpu_run(vcpu);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_SYNC);
	TEST_ASSERT_EQ(vcpu_get_stat(vcpu, vcounters_msr_exits), 1);
	/*
	 * RUN: the WRMSR of a loaded counter costs the host 2 MSR accesses;
	 * the rest of the run is loads and puts, 4 each (how many depends on
	 * preemption), so the run's total is 2 modulo 4. (ENTRY: the values
	 * are out of the MSRs at the exit; the write costs none.)
	 */
	acc = vcpu_get_stat(vcpu, vcounters_msr_accesses_run) - acc;
	ksft_print_msg("mode %u: a KVM_RUN with one guest WRMSR: %lu host MSR accesses\n", mode,
		       acc);
	if (mode == KVM_VCOUNTERS_MODE_RUN)
		TEST_ASSERT(acc % 4 == 2, "RUN: a guest WRMSR's run took %lu MSR accesses", acc);
	/* The written value is in the counter, which counts on from it. */
	TEST_ASSERT(uc.args[1] >= 1ull << 50 && uc.args[1] < (1ull << 50) + (1ull << 40),
		    "mode %u: MPERF %#lx after writing 2^50", mode, uc.args[1]);
	vcpu_run(vcpu);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_DONE);
	kvm_vm_free(vm);
}

int main(void)
{
	struct kvm_vm *vm;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_APERFMPERF);
	__TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_DISABLE_EXITS) & KVM_X86_DISABLE_EXITS_APERFMPERF,
		       "RUN/ENTRY need host APERFMPERF (make check's CPU model has it); "
		       "EMULATE is covered by the other tests");
	vm = vm_create_barebones();
	tsc_khz = vcounters_tsc_khz(vm);
	kvm_vm_free(vm);

	test_passthrough(KVM_VCOUNTERS_MODE_RUN);
	test_passthrough(KVM_VCOUNTERS_MODE_ENTRY);
	test_set_msrs(KVM_VCOUNTERS_MODE_RUN);
	test_set_msrs(KVM_VCOUNTERS_MODE_ENTRY);
	test_wrap_hazard(KVM_VCOUNTERS_MODE_RUN);
	test_wrap_hazard(KVM_VCOUNTERS_MODE_ENTRY);
	test_shared_cpu();
	test_host_view();
	return 0;
}
