// SPDX-License-Identifier: GPL-2.0-only
/*
 * Stress: two opted-in VMs with four vCPUs each on the two CPUs, busy
 * and halting vCPUs mixed, their host threads migrating between the CPUs
 * and yielding, for a bounded time. VM 0 asks for AUTO, VM 1 for ENTRY
 * where the host has APERFMPERF (EMULATE otherwise). Checked per vCPU:
 * every APERF/MPERF the guest reads is at least the one before it,
 * GET_VCPU_STATE at the end at least the last read; the stats agree:
 * live and halted time fit in the wall time, the context is not live
 * outside KVM_RUN (switches even), halting vCPUs were halted, and MPERF
 * never exceeds the live time.
 *
 *   vcounters_stress_test [SECONDS]   (default 4)
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <asm/msr-index.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

#define NR_VMS			2
#define NR_VCPUS		4
#define BUSY_CHUNK		200000ull
/* Cycles a read may lag the live-time accounting by (one exit). */
#define SLACK			vcounters_ms_to_tsc(tsc_khz, 12)

static void guest_busy(void)
{
	volatile u64 i;

	for (;;) {
		GUEST_SYNC_ARGS(0, rdmsr(MSR_IA32_MPERF), rdmsr(MSR_IA32_APERF), 0, 0);
		for (i = 0; i < BUSY_CHUNK; i++)
			;
	}
}

static void guest_halter(void)
{
	for (;;) {
		GUEST_SYNC_ARGS(0, rdmsr(MSR_IA32_MPERF), rdmsr(MSR_IA32_APERF), 0, 0);
		asm volatile("cli; hlt" ::: "memory");
	}
}

struct runner {
	struct kvm_vcpu *vcpu;
	pthread_t thread;
	bool halter;
	u64 mperf, aperf, syncs, wakes;
};

static volatile bool stop;

static void on_kick(int sig)
{
}

static void *run_vcpu(void *arg)
{
	struct kvm_mp_state runnable = { KVM_MP_STATE_RUNNABLE };
	struct runner *r = arg;
	struct ucall uc;
	u64 n = 0;

	while (!stop) {
		/* Migrate and yield now and then: the host preempts too. */
		if (n % 3 == 0)
			pin_self_to_cpu((n / 3 + r->syncs) & 1);
		if (n % 5 == 0)
			sched_yield();
		n++;
		if (__vcpu_run(r->vcpu)) {
			/* A kick (halting vCPUs): wake it, the halt is over. */
			TEST_ASSERT(errno == EINTR, "KVM_RUN: errno %d", errno);
			vcpu_mp_state_set(r->vcpu, &runnable);
			r->wakes++;
			continue;
		}
		if (get_ucall(r->vcpu, &uc) == UCALL_ABORT)
			REPORT_GUEST_ASSERT(uc);
		TEST_ASSERT(uc.cmd == UCALL_SYNC, "exit %s, ucall %lu",
			    exit_reason_str(r->vcpu->run->exit_reason), uc.cmd);
		TEST_ASSERT(uc.args[2] >= r->mperf && uc.args[3] >= r->aperf,
			    "vCPU went backwards: MPERF %lu after %lu, APERF %lu after %lu",
			    uc.args[2], r->mperf, uc.args[3], r->aperf);
		r->mperf = uc.args[2];
		r->aperf = uc.args[3];
		r->syncs++;
	}
	return NULL;
}

int main(int argc, char *argv[])
{
	int seconds = argc > 1 ? atoi(argv[1]) : 4;
	struct sigaction sa = { .sa_handler = on_kick };
	struct runner r[NR_VMS][NR_VCPUS] = {};
	struct kvm_vm *vm[NR_VMS];
	bool hw = vcounters_host_has_aperfmperf();
	u64 wall_ns, t0, tsc_khz;
	struct timespec ts0, ts1;
	int v, i;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_APERFMPERF);
	TEST_ASSERT(!sigaction(SIGUSR1, &sa, NULL), "sigaction");

	for (v = 0; v < NR_VMS; v++) {
		u32 mode = v == 0 ? KVM_VCOUNTERS_MODE_AUTO :
			   hw ? KVM_VCOUNTERS_MODE_ENTRY : KVM_VCOUNTERS_MODE_EMULATE;

		/* Not vcounters_vm_create(): busy and halting vCPUs alternate. */
		vm[v] = vm_create(NR_VCPUS);
		TEST_ASSERT(!__vcounters_enable(vm[v], KVM_VCOUNTERS_APERFMPERF, mode),
			    "KVM_ENABLE_CAP(KVM_CAP_X86_VCOUNTERS) in mode %u", mode);
		for (i = 0; i < NR_VCPUS; i++) {
			r[v][i].halter = i & 1;
			r[v][i].vcpu = vm_vcpu_add(vm[v], i, i & 1 ? guest_halter : guest_busy);
			vcpu_set_cpuid_feature(r[v][i].vcpu, X86_FEATURE_APERFMPERF);
		}
	}
	tsc_khz = vcounters_tsc_khz(vm[0]);

	clock_gettime(CLOCK_MONOTONIC, &ts0);
	t0 = rdtsc();
	for (v = 0; v < NR_VMS; v++)
		for (i = 0; i < NR_VCPUS; i++)
			pthread_create(&r[v][i].thread, NULL, run_vcpu, &r[v][i]);
	/* Halting vCPUs wait in KVM until kicked. */
	while (rdtsc() - t0 < seconds * tsc_khz * 1000) {
		usleep(2000);
		for (v = 0; v < NR_VMS; v++)
			for (i = 1; i < NR_VCPUS; i += 2)
				pthread_kill(r[v][i].thread, SIGUSR1);
	}
	stop = true;
	for (v = 0; v < NR_VMS; v++)
		for (i = 0; i < NR_VCPUS; i++) {
			/* Keep kicking: a halted vCPU would never see the stop. */
			while (pthread_tryjoin_np(r[v][i].thread, NULL)) {
				pthread_kill(r[v][i].thread, SIGUSR1);
				usleep(1000);
			}
		}
	clock_gettime(CLOCK_MONOTONIC, &ts1);
	wall_ns = (ts1.tv_sec - ts0.tv_sec) * 1000000000ull + ts1.tv_nsec - ts0.tv_nsec;

	for (v = 0; v < NR_VMS; v++) {
		for (i = 0; i < NR_VCPUS; i++) {
			struct runner *x = &r[v][i];
			struct kvm_vcounters_vcpu_state st;
			u64 live = vcpu_get_stat(x->vcpu, vcounters_live_ns);
			u64 halted = vcpu_get_stat(x->vcpu, vcounters_halted_ns);
			u64 switches = vcpu_get_stat(x->vcpu, vcounters_switches);

			st = vcounters_state(x->vcpu);
			ksft_print_msg("VM %d vCPU %d (%s, mode %u): %lu syncs, %lu wakes, live %lu ms, "
				       "halted %lu ms, %lu switches, MPERF %llu\n", v, i,
				       x->halter ? "halting" : "busy", st.aperfmperf_mode, x->syncs,
				       x->wakes, live / 1000000, halted / 1000000, switches, st.mperf);
			TEST_ASSERT(x->syncs > 1, "VM %d vCPU %d never ran", v, i);
			TEST_ASSERT(st.mperf >= x->mperf && st.aperf >= x->aperf,
				    "VM %d vCPU %d: final %llu/%llu below last read %lu/%lu", v, i,
				    st.mperf, st.aperf, x->mperf, x->aperf);
			TEST_ASSERT(live + halted <= wall_ns, "VM %d vCPU %d: live %lu + halted %lu > %lu",
				    v, i, live, halted, wall_ns);
			TEST_ASSERT(!(switches & 1), "VM %d vCPU %d live outside KVM_RUN", v, i);
			TEST_ASSERT(st.mperf <= live * (tsc_khz / 1000) / 1000 + SLACK,
				    "VM %d vCPU %d: MPERF %llu over %lu ns live", v, i, st.mperf, live);
			if (x->halter)
				TEST_ASSERT(halted > 0, "VM %d vCPU %d never halted", v, i);
		}
		kvm_vm_free(vm[v]);
	}
	return 0;
}
