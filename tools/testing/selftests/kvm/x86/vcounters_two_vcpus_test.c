// SPDX-License-Identifier: GPL-2.0-only
/*
 * Two vCPUs of a VM that opted in: vCPU 0 computes, vCPU 1 mostly halts.
 * The host runs them in turn, so each is outside KVM_RUN while the other
 * runs. Their virtual MPERF must diverge the way their live time does:
 * vCPU 0 counts its busy chunks, vCPU 1 almost nothing, though both
 * guests' TSCs advance alike.
 *
 * Prints, per vCPU, what the guest observed (MPERF, APERF, effective
 * frequency, share of its TSC time it was live) and what the host sees in
 * the binary stats (live and halted time); `make demo` shows this table.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <asm/msr-index.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

#define ROUNDS			10
#define BUSY_CHUNK		20000000ull
#define HALT_MS			50
/*
 * The guest reads MPERF, then APERF, each through an exit: the two reads
 * are up to one exit apart (~10 ms at most under TCG), at each end.
 */
#define READ_SKEW		vcounters_ms_to_tsc(tsc_khz, 10)

/*
 * The host's APERF and MPERF summed over CPUs 0 and 1, or 0 and 0 where the
 * host has no APERFMPERF: a guest's APERF/MPERF runs at the host's ratio,
 * whichever mode the module picked.
 */
static void host_counts(u64 *aperf, u64 *mperf)
{
	int cpu;

	*aperf = *mperf = 0;
	if (!vcounters_host_has_aperfmperf())
		return;
	for (cpu = 0; cpu < 2; cpu++) {
		char path[32];
		u64 a, m;
		int fd;

		snprintf(path, sizeof(path), "/dev/cpu/%d/msr", cpu);
		fd = open(path, O_RDONLY);
		__TEST_REQUIRE(fd >= 0, "needs /dev/cpu/N/msr (CONFIG_X86_MSR)");
		TEST_ASSERT(pread(fd, &a, 8, MSR_IA32_APERF) == 8 &&
			    pread(fd, &m, 8, MSR_IA32_MPERF) == 8, "read %s", path);
		close(fd);
		*aperf += a;
		*mperf += m;
	}
}

static void report(void)
{
	GUEST_SYNC_ARGS(0, rdtsc(), rdmsr(MSR_IA32_MPERF), rdmsr(MSR_IA32_APERF), 0);
}

static void guest_busy(void)
{
	volatile u64 i;

	for (;;) {
		report();
		for (i = 0; i < BUSY_CHUNK; i++)
			;
	}
}

static void guest_halter(void)
{
	for (;;) {
		report();
		asm volatile("cli; hlt" ::: "memory");
	}
}

struct sample {
	u64 tsc, mperf, aperf;
};

static struct sample run_once(struct kvm_vcpu *vcpu)
{
	struct ucall uc = vcounters_run_to_sync(vcpu);

	return (struct sample){ uc.args[2], uc.args[3], uc.args[4] };
}

static void on_alarm(int sig)
{
}

/* Let the halted guest sit in KVM for @ms, then wake it and run it. */
static struct sample halt_and_run(struct kvm_vcpu *vcpu, unsigned int ms)
{
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	int r;

	ualarm(ms * 1000, 0);
	r = __vcpu_run(vcpu);
	TEST_ASSERT(r == -1 && errno == EINTR, "KVM_RUN in HLT: r = %d, errno %d", r, errno);
	vcpu_mp_state_set(vcpu, &mp);
	return run_once(vcpu);
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct sample first[2], last[2];
	struct kvm_vcpu *vcpu[2];
	double share[2], ratio = 1.0;
	u64 ha0, hm0, ha1, hm1;
	struct kvm_vm *vm;
	u64 tsc_khz;
	int i;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_APERFMPERF);
	TEST_ASSERT(!sigaction(SIGALRM, &sa, NULL), "sigaction");

	vm = vm_create(2);
	vm_enable_cap(vm, KVM_CAP_X86_VCOUNTERS, KVM_VCOUNTERS_APERFMPERF);
	vcpu[0] = vm_vcpu_add(vm, 0, guest_busy);
	vcpu[1] = vm_vcpu_add(vm, 1, guest_halter);
	for (i = 0; i < 2; i++)
		vcpu_set_cpuid_feature(vcpu[i], X86_FEATURE_APERFMPERF);
	tsc_khz = vcounters_tsc_khz(vm);

	host_counts(&ha0, &hm0);
	for (i = 0; i < 2; i++)
		first[i] = run_once(vcpu[i]);
	for (i = 0; i < ROUNDS; i++) {
		last[0] = run_once(vcpu[0]);
		last[1] = halt_and_run(vcpu[1], HALT_MS);
	}
	host_counts(&ha1, &hm1);
	if (hm1 != hm0)
		ratio = (double)(ha1 - ha0) / (hm1 - hm0);

	printf("\n%-5s %14s %14s %14s %9s %7s %9s   %-s\n", "vCPU", "MPERF delta",
	       "APERF delta", "TSC delta", "eff. MHz", "live %", "halted %",
	       "host stats: live ms, halted ms, switches");
	for (i = 0; i < 2; i++) {
		u64 dt = last[i].tsc - first[i].tsc;
		u64 dm = last[i].mperf - first[i].mperf;
		u64 da = last[i].aperf - first[i].aperf;

		u64 halted_ns = vcpu_get_stat(vcpu[i], vcounters_halted_ns);

		share[i] = (double)dm / dt;
		/* Halted share: the host's halted time over the guest's TSC time. */
		printf("%-5d %14lu %14lu %14lu %9.0f %6.1f%% %8.1f%%   %lu, %lu, %lu\n", i, dm, da,
		       dt, dm ? tsc_khz / 1000.0 * da / dm : 0.0, 100 * share[i],
		       100.0 * halted_ns / (dt * 1e6 / tsc_khz),
		       vcpu_get_stat(vcpu[i], vcounters_live_ns) / 1000000, halted_ns / 1000000,
		       vcpu_get_stat(vcpu[i], vcounters_switches));
		/*
		 * APERF advanced with MPERF at the host's ratio (within 2%, and
		 * the read skew of each end).
		 */
		TEST_ASSERT(da + 2 * READ_SKEW * ratio >= dm * ratio * 0.98 &&
			    da <= dm * ratio * 1.02 + 2 * READ_SKEW * ratio,
			    "vCPU %d: APERF +%lu vs MPERF +%lu, host ratio %.3f", i, da, dm, ratio);
	}
	printf("(host APERF/MPERF over the run: %.3f; mode %u)\n", ratio,
	       vcounters_state(vcpu[0]).aperfmperf_mode);
	printf("(eff. MHz = guest TSC rate x APERF/MPERF; live %% = MPERF/TSC, the guest's busy share;\n"
	       " halted %% = time halted in KVM over the guest's TSC time; the rest the vCPU spent\n"
	       " outside KVM_RUN while the host ran the other one)\n\n");

	/*
	 * vCPU 0 is live for its busy chunks, roughly half of the time (the
	 * rest the host spends running vCPU 1); vCPU 1 only for its exits.
	 */
	TEST_ASSERT(share[0] > 0.2, "busy vCPU live %.3f of its TSC time", share[0]);
	TEST_ASSERT(share[1] < 0.1, "halting vCPU live %.3f of its TSC time", share[1]);
	TEST_ASSERT(share[0] > 4 * share[1], "busy %.3f vs halting %.3f", share[0], share[1]);
	TEST_ASSERT(vcpu_get_stat(vcpu[1], vcounters_halted_ns) >= ROUNDS * HALT_MS / 2 * 1000000ull,
		    "halting vCPU: vcounters_halted_ns %lu",
		    vcpu_get_stat(vcpu[1], vcounters_halted_ns));
	kvm_vm_free(vm);
	return 0;
}
