// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest values at and around every boundary of APERF and MPERF, in RUN and
 * ENTRY, written by userspace (KVM_SET_MSRS) and by the guest (WRMSR):
 * 0, 1, 2^63 - 2, 2^63 - 1, 2^63, 2^63 + 1, 2^64 - 2, 2^64 - 1, each in
 * a fresh VM whose other counter holds 2^62 (far from wrapping, so a
 * clear shows). The counting test machine's counters wrap like silicon:
 * when one wraps, the hardware clears the other. For each value:
 *  - the guest sees its counter go on from the value, and where it wraps,
 *    the other cleared (the SDM's rule), whether or not the value was ever
 *    in the MSRs;
 *  - a value that stays below 2^63 keeps the hardware mode (the module
 *    keeps out of the MSRs only values that may wrap while loaded; one
 *    that crosses 2^63 moves to EMULATE at the next KVM_RUN);
 *  - the host's MPERF through /dev/cpu/N/msr, summed over the CPUs, never
 *    goes backwards and advances no faster than the TSC on each CPU;
 *  - the kernel never says "Scheduler frequency invariance went wobbly":
 *    the tick's sample never saw a host counter step back.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <asm/msr-index.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

#define BUSY_CHUNK	2000000ull
#define OTHER_VALUE	(1ull << 62)
/* Far more than a test's cycles, far less than any tested distance. */
#define NEAR		(1ull << 40)

static const u64 values[] = {
	0, 1, (1ull << 63) - 2, (1ull << 63) - 1, 1ull << 63, (1ull << 63) + 1,
	-2ull, -1ull,
};

static u32 guest_msr;
static u64 guest_value;
static int msr_fd[2];
static unsigned long tsc_khz;

static void guest_code(void)
{
	volatile u64 i;

	GUEST_SYNC(0);
	if (guest_msr)
		wrmsr(guest_msr, guest_value);
	for (;;) {
		for (i = 0; i < BUSY_CHUNK; i++)
			;
		GUEST_SYNC_ARGS(1, rdmsr(MSR_IA32_MPERF), rdmsr(MSR_IA32_APERF), 0, 0);
	}
}

static u64 host_mperf_sum(void)
{
	u64 sum = 0, m;
	int cpu;

	for (cpu = 0; cpu < 2; cpu++) {
		TEST_ASSERT(pread(msr_fd[cpu], &m, 8, MSR_IA32_MPERF) == 8, "read MPERF");
		sum += m;
	}
	return sum;
}

static struct ucall run(struct kvm_vcpu *vcpu, u64 stage)
{
	struct ucall uc = vcounters_run_to_sync(vcpu);

	TEST_ASSERT_EQ(uc.args[1], stage);
	return uc;
}

static void test_one(u32 mode, u32 msr, u64 value, bool by_guest)
{
	u32 other = msr == MSR_IA32_MPERF ? MSR_IA32_APERF : MSR_IA32_MPERF;
	const char *name = msr == MSR_IA32_MPERF ? "MPERF" : "APERF";
	u64 h0, h1, t0, elapsed, got, got_other;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	bool wraps;

	vm = vcounters_vm_create(mode, 1, &vcpu, guest_code);
	guest_msr = by_guest ? msr : 0;
	guest_value = value;
	sync_global_to_guest(vm, guest_msr);
	sync_global_to_guest(vm, guest_value);
	vcpu_set_msr(vcpu, other, OTHER_VALUE);
	run(vcpu, 0);
	if (!by_guest)
		vcpu_set_msr(vcpu, msr, value);

	t0 = rdtsc();
	h0 = host_mperf_sum();
	run(vcpu, 1);
	uc = run(vcpu, 1);
	h1 = host_mperf_sum();
	elapsed = rdtsc() - t0;

	got = msr == MSR_IA32_MPERF ? uc.args[2] : uc.args[3];
	got_other = msr == MSR_IA32_MPERF ? uc.args[3] : uc.args[2];
	wraps = value > -NEAR;
	TEST_ASSERT(h1 >= h0 && h1 - h0 <= 2 * elapsed + vcounters_ms_to_tsc(tsc_khz, 20),
		    "mode %u, %s %s = %#lx: host MPERF moved %ld over TSC +%lu", mode,
		    by_guest ? "guest" : "host", name, value, (long)(h1 - h0), elapsed);
	if (wraps) {
		TEST_ASSERT(got < NEAR && got_other < NEAR,
			    "mode %u, %s %s = %#lx: after the wrap %s %#lx, other %#lx (not cleared)",
			    mode, by_guest ? "guest" : "host", name, value, name, got, got_other);
	} else {
		TEST_ASSERT(got - value < NEAR && got_other - OTHER_VALUE < NEAR,
			    "mode %u, %s %s = %#lx: read %#lx, other %#lx", mode,
			    by_guest ? "guest" : "host", name, value, got, got_other);
	}
	/* Values that stayed below 2^63 throughout stay in the hardware. */
	if (value < (1ull << 63) - NEAR)
		TEST_ASSERT(vcounters_state(vcpu).aperfmperf_mode == mode,
			    "mode %u, %s %s = %#lx: now in mode %u", mode,
			    by_guest ? "guest" : "host", name, value,
			    vcounters_state(vcpu).aperfmperf_mode);
	kvm_vm_free(vm);
}

/* Whether the kernel log says frequency invariance turned itself off. */
static bool invariance_went_wobbly(void)
{
	return vcounters_kmsg_last("frequency invariance went wobbly", NULL, 0);
}

int main(void)
{
	static const u32 modes[] = { KVM_VCOUNTERS_MODE_RUN, KVM_VCOUNTERS_MODE_ENTRY };
	static const u32 msrs[] = { MSR_IA32_MPERF, MSR_IA32_APERF };
	struct kvm_vm *vm;
	int m, r, v, g, cases = 0;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_APERFMPERF);
	__TEST_REQUIRE(vcounters_host_has_aperfmperf(),
		       "RUN/ENTRY need host APERFMPERF (make check's CPU model has it); "
		       "EMULATE's wrap is covered by the host tests of the logic");
	for (m = 0; m < 2; m++) {
		char path[64];

		snprintf(path, sizeof(path), "/dev/cpu/%d/msr", m);
		msr_fd[m] = open(path, O_RDONLY);
		__TEST_REQUIRE(msr_fd[m] >= 0, "needs /dev/cpu/N/msr (CONFIG_X86_MSR)");
	}
	vm = vm_create_barebones();
	tsc_khz = vcounters_tsc_khz(vm);
	kvm_vm_free(vm);
	TEST_ASSERT(!invariance_went_wobbly(), "frequency invariance was off before the test");

	for (m = 0; m < ARRAY_SIZE(modes); m++)
		for (r = 0; r < ARRAY_SIZE(msrs); r++)
			for (v = 0; v < ARRAY_SIZE(values); v++)
				for (g = 0; g < 2; g++, cases++)
					test_one(modes[m], msrs[r], values[v], g);

	TEST_ASSERT(!invariance_went_wobbly(),
		    "the kernel turned frequency invariance off during the test");
	ksft_print_msg("%d cases: host MPERF monotonic and bounded, guest wraps like the SDM, "
		       "frequency invariance on\n", cases);
	return 0;
}
