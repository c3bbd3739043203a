// SPDX-License-Identifier: GPL-2.0-only
/*
 * Virtual APERF/MPERF of a VM that opted in with KVM_CAP_X86_VCOUNTERS, in
 * EMULATE mode (the only mode on a host without APERFMPERF, e.g. TCG):
 *
 * - without CPUID.06H:ECX[0] the guest's RDMSR/WRMSR take #GP;
 * - with it, MPERF tracks the guest TSC while the guest runs;
 * - time the host spends between KVM_RUN calls is not counted;
 * - time the vCPU spends halted in KVM (HLT, ended here by a signal) is
 *   not counted, and shows in the vcounters_halted_ns stat;
 * - APERF advances like MPERF on this host (ratio 1);
 * - WRMSR sets the value and counting continues from it;
 * - KVM_GET_MSRS from one VM and KVM_SET_MSRS into a fresh one carry the
 *   values over, and the guest there continues from them;
 * - KVM_VCOUNTERS_GET_VCPU_STATE reports what the guest reads.
 *
 * Tolerances: every guest RDMSR of these MSRs exits to KVM (~0.1 ms under
 * TCG once warm, several ms the first time TCG translates the exit path),
 * so a guest RDTSC and the RDMSR next to it see instants up to exit_slack
 * ticks apart; the guest warms the path up first, and a busy loop of ~10^8
 * ticks keeps that below a few percent. Where the vCPU is stopped, the
 * checks are exact: at ratio 1 APERF equals MPERF to the tick. The vCPU
 * thread can be preempted on the host (not live, so not counted), which
 * only makes MPERF smaller: MPERF may trail the TSC by 20% but never lead
 * it by more than the exit cost.
 */
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <asm/msr-index.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

/* Milliseconds one guest RDMSR exit may take (generous for TCG). */
#define EXIT_SLACK_MS		10
#define BUSY_LOOPS		20000000ull
#define HOST_SLEEP_MS		300

enum { SYNC_GP = 1, SYNC_BUSY, SYNC_PAUSE1, SYNC_PAUSE2, SYNC_HALT, SYNC_WRITE, SYNC_MIGRATE };

/* EXIT_SLACK_MS in ticks of the vCPU's TSC, whatever its rate. */
static u64 exit_slack;

static void busy(u64 loops)
{
	volatile u64 i;

	for (i = 0; i < loops; i++)
		;
}

/* Guest without the CPUID bit: every access faults. */
static void guest_no_cpuid(void)
{
	u64 v;

	GUEST_ASSERT_EQ(rdmsr_safe(MSR_IA32_MPERF, &v), GP_VECTOR);
	GUEST_ASSERT_EQ(rdmsr_safe(MSR_IA32_APERF, &v), GP_VECTOR);
	GUEST_ASSERT_EQ(wrmsr_safe(MSR_IA32_MPERF, 1), GP_VECTOR);
	GUEST_ASSERT_EQ(wrmsr_safe(MSR_IA32_APERF, 1), GP_VECTOR);
	GUEST_SYNC(SYNC_GP);
	GUEST_DONE();
}

static void guest_code(void)
{
	u64 tsc0, tsc1, m0, m1, a0, a1;

	/* Warm up the exit path, then a busy loop: MPERF tracks the TSC. */
	rdmsr(MSR_IA32_MPERF);
	rdmsr(MSR_IA32_APERF);
	tsc0 = rdtsc();
	m0 = rdmsr(MSR_IA32_MPERF);
	a0 = rdmsr(MSR_IA32_APERF);
	busy(BUSY_LOOPS);
	m1 = rdmsr(MSR_IA32_MPERF);
	a1 = rdmsr(MSR_IA32_APERF);
	tsc1 = rdtsc();
	GUEST_SYNC_ARGS(SYNC_BUSY, tsc1 - tsc0, m1 - m0, a1 - a0, 0);

	/* The host sleeps between the two KVM_RUN calls around this sync. */
	tsc0 = rdtsc();
	m0 = rdmsr(MSR_IA32_MPERF);
	GUEST_SYNC(SYNC_PAUSE1);
	m1 = rdmsr(MSR_IA32_MPERF);
	tsc1 = rdtsc();
	GUEST_SYNC_ARGS(SYNC_PAUSE2, tsc1 - tsc0, m1 - m0, 0, 0);

	/* Halt with interrupts off: only the host ends it. */
	tsc0 = rdtsc();
	m0 = rdmsr(MSR_IA32_MPERF);
	asm volatile("cli; hlt" ::: "memory");
	m1 = rdmsr(MSR_IA32_MPERF);
	tsc1 = rdtsc();
	GUEST_SYNC_ARGS(SYNC_HALT, tsc1 - tsc0, m1 - m0, 0, 0);

	/* WRMSR sets the value; counting goes on from it. */
	wrmsr(MSR_IA32_MPERF, 1ull << 40);
	wrmsr(MSR_IA32_APERF, 1ull << 41);
	busy(BUSY_LOOPS / 10);
	m1 = rdmsr(MSR_IA32_MPERF);
	a1 = rdmsr(MSR_IA32_APERF);
	GUEST_SYNC_ARGS(SYNC_WRITE, m1, a1, 0, 0);

	/* Migrated here: continue from the values the host restored. */
	GUEST_SYNC(SYNC_MIGRATE);
	GUEST_SYNC_ARGS(SYNC_MIGRATE, rdmsr(MSR_IA32_MPERF), rdmsr(MSR_IA32_APERF), 0, 0);
	GUEST_DONE();
}

static void enable(struct kvm_vm *vm)
{
	vm_enable_cap(vm, KVM_CAP_X86_VCOUNTERS, KVM_VCOUNTERS_APERFMPERF);
}

static struct ucall run(struct kvm_vcpu *vcpu, u64 want)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	case UCALL_SYNC:
		TEST_ASSERT(uc.args[1] == want, "sync %lu, expected %lu", uc.args[1], want);
		break;
	case UCALL_DONE:
		TEST_ASSERT(!want, "guest done, expected sync %lu", want);
		break;
	default:
		TEST_FAIL("unexpected ucall %lu", uc.cmd);
	}
	return uc;
}

static void test_no_cpuid_bit(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;

	vm = vm_create(1);
	enable(vm);
	vcpu = vm_vcpu_add(vm, 0, guest_no_cpuid);
	vcpu_clear_cpuid_feature(vcpu, X86_FEATURE_APERFMPERF);
	run(vcpu, SYNC_GP);
	run(vcpu, 0);
	kvm_vm_free(vm);
}

static void on_alarm(int sig)
{
}

/* Run into the guest's HLT, let a signal end KVM_RUN after @ms, resume. */
static void halt_for(struct kvm_vcpu *vcpu, unsigned int ms)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct kvm_mp_state mp;
	int r;

	TEST_ASSERT(!sigaction(SIGALRM, &sa, NULL), "sigaction");
	ualarm(ms * 1000, 0);
	r = __vcpu_run(vcpu);
	TEST_ASSERT(r == -1 && errno == EINTR, "KVM_RUN in HLT: r = %d, errno %d", r, errno);
	vcpu_mp_state_get(vcpu, &mp);
	TEST_ASSERT_EQ(mp.mp_state, KVM_MP_STATE_HALTED);
	mp.mp_state = KVM_MP_STATE_RUNNABLE;
	vcpu_mp_state_set(vcpu, &mp);
}

static void check_state(struct kvm_vcpu *vcpu)
{
	struct kvm_vcounters_vcpu_state st = vcounters_state(vcpu);

	TEST_ASSERT_EQ(st.mperf, vcpu_get_msr(vcpu, MSR_IA32_MPERF));
	TEST_ASSERT_EQ(st.aperf, vcpu_get_msr(vcpu, MSR_IA32_APERF));
}

int main(void)
{
	struct kvm_x86_state *state;
	struct kvm_vcpu *vcpu, *vcpu2;
	struct kvm_vm *vm;
	u64 tsc, mperf, aperf, m, a, halted, run_ticks;
	struct timespec t0, t1;
	struct ucall uc;
	int tsc_khz;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_APERFMPERF);

	test_no_cpuid_bit();

	vm = vcounters_vm_create(KVM_VCOUNTERS_MODE_AUTO, 1, &vcpu, guest_code);
	tsc_khz = __vcpu_ioctl(vcpu, KVM_GET_TSC_KHZ, NULL);
	TEST_ASSERT(tsc_khz > 0, "KVM_GET_TSC_KHZ: %d", tsc_khz);
	exit_slack = (u64)tsc_khz * EXIT_SLACK_MS;

	uc = run(vcpu, SYNC_BUSY);
	tsc = uc.args[2];
	mperf = uc.args[3];
	aperf = uc.args[4];
	pr_info("busy loop: TSC +%lu, MPERF +%lu, APERF +%lu\n", tsc, mperf, aperf);
	TEST_ASSERT(mperf <= tsc + exit_slack && mperf >= tsc / 10 * 8,
		    "MPERF +%lu does not track TSC +%lu", mperf, tsc);
	TEST_ASSERT(aperf + exit_slack >= mperf && aperf <= mperf + exit_slack,
		    "APERF +%lu does not follow MPERF +%lu at ratio 1", aperf, mperf);
	/* Stopped, never written: at ratio 1 they are equal to the tick. */
	TEST_ASSERT_EQ(vcpu_get_msr(vcpu, MSR_IA32_APERF), vcpu_get_msr(vcpu, MSR_IA32_MPERF));
	check_state(vcpu);

	run(vcpu, SYNC_PAUSE1);
	usleep(HOST_SLEEP_MS * 1000);
	uc = run(vcpu, SYNC_PAUSE2);
	tsc = uc.args[2];
	mperf = uc.args[3];
	pr_info("host pause of %u ms: TSC +%lu, MPERF +%lu\n", HOST_SLEEP_MS, tsc, mperf);
	TEST_ASSERT(tsc > 20 * exit_slack, "TSC +%lu: the host did not pause?", tsc);
	TEST_ASSERT(mperf < tsc / 10, "MPERF +%lu counted the host's %u ms (TSC +%lu)",
		    mperf, HOST_SLEEP_MS, tsc);

	halted = vcpu_get_stat(vcpu, vcounters_halted_ns);
	halt_for(vcpu, HOST_SLEEP_MS);
	uc = run(vcpu, SYNC_HALT);
	tsc = uc.args[2];
	mperf = uc.args[3];
	halted = vcpu_get_stat(vcpu, vcounters_halted_ns) - halted;
	pr_info("halted %u ms: TSC +%lu, MPERF +%lu, vcounters_halted_ns +%lu\n",
		HOST_SLEEP_MS, tsc, mperf, halted);
	TEST_ASSERT(tsc > 20 * exit_slack, "TSC +%lu: the vCPU did not halt?", tsc);
	TEST_ASSERT(mperf < tsc / 10, "MPERF +%lu counted the halt (TSC +%lu)", mperf, tsc);
	/* The halt ends on the signal, ~HOST_SLEEP_MS after KVM_RUN began. */
	TEST_ASSERT(halted >= HOST_SLEEP_MS / 2 * 1000000ull,
		    "vcounters_halted_ns +%lu for a %u ms halt", halted, HOST_SLEEP_MS);

	uc = run(vcpu, SYNC_WRITE);
	m = uc.args[2];
	a = uc.args[3];
	TEST_ASSERT(m > 1ull << 40 && m < (1ull << 40) + BUSY_LOOPS * 1000,
		    "MPERF 0x%lx after writing 1 << 40", m);
	TEST_ASSERT(a > 1ull << 41 && a < (1ull << 41) + BUSY_LOOPS * 1000,
		    "APERF 0x%lx after writing 1 << 41", a);
	check_state(vcpu);

	/* Migrate: save from this vCPU (stopped, so stable), restore into a new VM. */
	run(vcpu, SYNC_MIGRATE);
	mperf = vcpu_get_msr(vcpu, MSR_IA32_MPERF);
	aperf = vcpu_get_msr(vcpu, MSR_IA32_APERF);
	TEST_ASSERT_EQ(vcpu_get_msr(vcpu, MSR_IA32_MPERF), mperf);
	TEST_ASSERT(mperf >= m && aperf >= a, "counters went back before migration");

	/*
	 * A new VM (a new struct kvm) over the same guest memory, as a
	 * migration destination: opt in, restore the vCPU, then the counters.
	 */
	state = vcpu_save_state(vcpu);
	kvm_vm_release(vm);
	kvm_vm_restart(vm);
	enable(vm);
	vcpu2 = vm_vcpu_recreate(vm, 0);
	vcpu_set_cpuid_feature(vcpu2, X86_FEATURE_APERFMPERF);
	vcpu_load_state(vcpu2, state);
	kvm_x86_state_cleanup(state);
	vcpu_set_msr(vcpu2, MSR_IA32_MPERF, mperf);
	vcpu_set_msr(vcpu2, MSR_IA32_APERF, aperf);

	/*
	 * The first run of the new VM builds its page tables while live, so
	 * bound the advance by the wall time of that KVM_RUN instead.
	 */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uc = run(vcpu2, SYNC_MIGRATE);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	run_ticks = ((t1.tv_sec - t0.tv_sec) * 1000000000ull + t1.tv_nsec - t0.tv_nsec) *
		    __vcpu_ioctl(vcpu2, KVM_GET_TSC_KHZ, NULL) / 1000000;
	m = uc.args[2];
	a = uc.args[3];
	pr_info("migrated: MPERF 0x%lx -> 0x%lx, APERF 0x%lx -> 0x%lx, KVM_RUN %lu ticks\n",
		mperf, m, aperf, a, run_ticks);
	TEST_ASSERT(m >= mperf && m - mperf <= run_ticks + exit_slack,
		    "MPERF not continued after migration");
	TEST_ASSERT(a >= aperf && a - aperf <= run_ticks + exit_slack,
		    "APERF not continued after migration");
	run(vcpu2, 0);
	check_state(vcpu2);
	kvm_vm_free(vm);
	return 0;
}
