// SPDX-License-Identifier: GPL-2.0-only
/*
 * Nested SVM: an L2 guest that reads IA32_MPERF/IA32_APERF, which its L1
 * does not intercept (the MSR permission map of generic_svm_setup() is
 * zero), sees L1's virtual counters: its reads fall between L1's own
 * reads before VMRUN and after the #VMEXIT, and they are not zero (what
 * the TCG host's real MSRs would read).
 */
#include <asm/msr-index.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
#include "test_util.h"
#include "vcounters.h"

enum { SYNC_L1_BEFORE = 1, SYNC_L2, SYNC_L1_AFTER };

static void l2_guest_code(void)
{
	GUEST_SYNC_ARGS(SYNC_L2, rdmsr(MSR_IA32_MPERF), rdmsr(MSR_IA32_APERF), 0, 0);
	vmmcall();
}

static void l1_guest_code(struct svm_test_data *svm)
{
	/* Live time in L1 before the first read, so the values are not 0. */
	volatile u64 i;

	for (i = 0; i < 1000000; i++)
		;
	GUEST_SYNC_ARGS(SYNC_L1_BEFORE, rdmsr(MSR_IA32_MPERF), rdmsr(MSR_IA32_APERF), 0, 0);
	generic_svm_setup(svm, l2_guest_code);
	run_guest(svm->vmcb, svm->vmcb_gpa);
	GUEST_ASSERT_EQ(svm->vmcb->control.exit_code, SVM_EXIT_VMMCALL);
	GUEST_SYNC_ARGS(SYNC_L1_AFTER, rdmsr(MSR_IA32_MPERF), rdmsr(MSR_IA32_APERF), 0, 0);
	GUEST_DONE();
}

int main(void)
{
	u64 mperf[4], aperf[4];
	struct kvm_vcpu *vcpu;
	gva_t svm_gva;
	struct kvm_vm *vm;
	struct ucall uc;
	int sync;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_APERFMPERF);
	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM));

	vm = vcounters_vm_create(KVM_VCOUNTERS_MODE_AUTO, 1, &vcpu, l1_guest_code);
	vcpu_alloc_svm(vm, &svm_gva);
	vcpu_args_set(vcpu, 1, svm_gva);

	for (sync = SYNC_L1_BEFORE; sync <= SYNC_L1_AFTER; sync++) {
		vcpu_run(vcpu);
		TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
		case UCALL_SYNC:
			TEST_ASSERT_EQ(uc.args[1], sync);
			mperf[sync] = uc.args[2];
			aperf[sync] = uc.args[3];
			break;
		default:
			TEST_FAIL("unexpected ucall %lu", uc.cmd);
		}
	}
	vcpu_run(vcpu);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_DONE);

	pr_info("MPERF: L1 %lu, L2 %lu, L1 %lu\n",
		mperf[SYNC_L1_BEFORE], mperf[SYNC_L2], mperf[SYNC_L1_AFTER]);
	TEST_ASSERT(mperf[SYNC_L1_BEFORE] > 0, "L1's MPERF did not count");
	TEST_ASSERT(mperf[SYNC_L1_BEFORE] <= mperf[SYNC_L2] &&
		    mperf[SYNC_L2] <= mperf[SYNC_L1_AFTER],
		    "L2's MPERF %lu is not L1's (%lu..%lu)", mperf[SYNC_L2],
		    mperf[SYNC_L1_BEFORE], mperf[SYNC_L1_AFTER]);
	TEST_ASSERT(aperf[SYNC_L1_BEFORE] <= aperf[SYNC_L2] &&
		    aperf[SYNC_L2] <= aperf[SYNC_L1_AFTER],
		    "L2's APERF %lu is not L1's (%lu..%lu)", aperf[SYNC_L2],
		    aperf[SYNC_L1_BEFORE], aperf[SYNC_L1_AFTER]);
	kvm_vm_free(vm);
	return 0;
}
