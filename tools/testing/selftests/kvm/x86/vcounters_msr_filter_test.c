// SPDX-License-Identifier: GPL-2.0-only
/*
 * A userspace MSR filter on IA32_MPERF wins over the module, in every
 * mode: with the filter set while the vCPU runs (after its first
 * KVM_RUN, when RUN and ENTRY have already passed guest reads through),
 * the guest's RDMSR and WRMSR of MPERF exit to userspace, which answers
 * them; IA32_APERF, not filtered, stays the module's and does not exit to
 * userspace. Without host APERFMPERF only EMULATE runs (the hardware
 * modes are refused there; make check's hw layer has the counters).
 */
#include <asm/msr-index.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

#define FROM_USERSPACE	0x1234ull
#define GUEST_WRITES	0x5678ull

static void guest_code(void)
{
	u64 aperf;

	/* Reads pass through in RUN and ENTRY from here. */
	GUEST_SYNC(rdmsr(MSR_IA32_MPERF));
	GUEST_ASSERT_EQ(rdmsr(MSR_IA32_MPERF), FROM_USERSPACE);
	wrmsr(MSR_IA32_MPERF, GUEST_WRITES);
	aperf = rdmsr(MSR_IA32_APERF);
	ucall(UCALL_DONE, 1, aperf);
}

static u8 deny_bits;

static struct kvm_msr_filter filter_mperf = {
	.flags = KVM_MSR_FILTER_DEFAULT_ALLOW,
	.ranges = {
		{
			.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
			.nmsrs = 1,
			.base = MSR_IA32_MPERF,
			.bitmap = &deny_bits,
		},
	},
};

static void run_expect_msr_exit(struct kvm_vcpu *vcpu, u32 reason)
{
	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, reason);
	TEST_ASSERT_EQ(vcpu->run->msr.index, MSR_IA32_MPERF);
}

static void test_filter_wins(u32 mode)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;

	vm = vcounters_vm_create(mode, 1, &vcpu, guest_code);
	vm_enable_cap(vm, KVM_CAP_X86_USER_SPACE_MSR, KVM_MSR_EXIT_REASON_FILTER);

	vcpu_run(vcpu);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_SYNC);
	TEST_ASSERT_EQ(vcounters_state(vcpu).aperfmperf_mode, mode);

	vm_ioctl(vm, KVM_X86_SET_MSR_FILTER, &filter_mperf);

	run_expect_msr_exit(vcpu, KVM_EXIT_X86_RDMSR);
	vcpu->run->msr.data = FROM_USERSPACE;
	vcpu->run->msr.error = 0;

	run_expect_msr_exit(vcpu, KVM_EXIT_X86_WRMSR);
	TEST_ASSERT_EQ(vcpu->run->msr.data, GUEST_WRITES);
	vcpu->run->msr.error = 0;

	/* APERF is not filtered: no exit to userspace for it. */
	vcpu_run(vcpu);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_DONE:
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	default:
		TEST_FAIL("mode %u: exit %s, ucall %lu", mode,
			  exit_reason_str(vcpu->run->exit_reason), uc.cmd);
	}
	TEST_ASSERT(uc.args[0] > 0, "mode %u: APERF read 0", mode);
	ksft_print_msg("mode %u: the filter wins for MPERF, APERF %lu\n", mode, uc.args[0]);
	kvm_vm_free(vm);
}

int main(void)
{
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_APERFMPERF);
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_X86_USER_SPACE_MSR));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_X86_MSR_FILTER));

	vcounters_for_each_mode(test_filter_wins);
	return 0;
}
