// SPDX-License-Identifier: GPL-2.0-only
/*
 * Nested SVM and VMX: an L2 guest that reads IA32_MPERF/IA32_APERF, which
 * its L1 does not intercept (SVM: MSR protection on, with the zeroed
 * permission map of generic_svm_setup(); VMX: MSR bitmaps on, with the
 * zeroed bitmap of vcpu_alloc_vmx()), so that KVM's merged map for L2
 * passes through what L1's own passes through, sees L1's virtual counters,
 * in every mode the host offers:
 *  - its reads fall between L1's own reads before VMRUN and after the
 *    #VMEXIT, and they are not zero (what the TCG host's real MSRs would
 *    read);
 *  - a mode change while L2 is the one running (userspace sets an MPERF
 *    that may wrap, which moves RUN and ENTRY to EMULATE, during an exit
 *    of L2's) reaches L2 at once: its next read is the value set, not
 *    whatever the MSRs hold, although L1 did not run in between to merge
 *    its MSR permission map into L2's.
 * The half of the host's vendor runs; the other one says why it is skipped
 * (QEMU's TCG, the test machine of `make check`, emulates SVM only).
 */
#include <asm/msr-index.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
#include "test_util.h"
#include "vcounters.h"
#include "vmx.h"

enum { SYNC_L1_BEFORE = 1, SYNC_L2, SYNC_L2_AFTER_SET, SYNC_L1_AFTER };

/* Set by userspace during L2's first exit: EMULATE from then on. */
#define MPERF_SET	(1ull << 63)

static void l2_guest_code(void)
{
	GUEST_SYNC_ARGS(SYNC_L2, rdmsr(MSR_IA32_MPERF), rdmsr(MSR_IA32_APERF), 0, 0);
	GUEST_SYNC_ARGS(SYNC_L2_AFTER_SET, rdmsr(MSR_IA32_MPERF), rdmsr(MSR_IA32_APERF), 0, 0);
	if (this_cpu_has(X86_FEATURE_VMX))
		vmcall();
	else
		vmmcall();
}

/* Live time in L1 before the first read, so the values are not 0. */
static void l1_read_before(void)
{
	volatile u64 i;

	for (i = 0; i < 1000000; i++)
		;
	GUEST_SYNC_ARGS(SYNC_L1_BEFORE, rdmsr(MSR_IA32_MPERF), rdmsr(MSR_IA32_APERF), 0, 0);
}

static void l1_read_after(void)
{
	GUEST_SYNC_ARGS(SYNC_L1_AFTER, rdmsr(MSR_IA32_MPERF), rdmsr(MSR_IA32_APERF), 0, 0);
	GUEST_DONE();
}

static void l1_svm_code(struct svm_test_data *svm)
{
	l1_read_before();
	generic_svm_setup(svm, l2_guest_code);
	svm->vmcb->control.intercept |= BIT_ULL(INTERCEPT_MSR_PROT);
	run_guest(svm->vmcb, svm->vmcb_gpa);
	GUEST_ASSERT_EQ(svm->vmcb->control.exit_code, SVM_EXIT_VMMCALL);
	l1_read_after();
}

static void l1_vmx_code(struct vmx_pages *vmx)
{
	l1_read_before();
	GUEST_ASSERT(prepare_for_vmx_operation(vmx));
	GUEST_ASSERT(load_vmcs(vmx));
	prepare_vmcs(vmx, l2_guest_code);
	/* The bitmap prepare_vmcs() pointed at is all zeroes: no intercepts. */
	vmwrite(CPU_BASED_VM_EXEC_CONTROL,
		vmreadz(CPU_BASED_VM_EXEC_CONTROL) | CPU_BASED_USE_MSR_BITMAPS);
	GUEST_ASSERT(!vmlaunch());
	GUEST_ASSERT_EQ(vmreadz(VM_EXIT_REASON), EXIT_REASON_VMCALL);
	l1_read_after();
}

static void test_l2_reads(u32 mode, bool vmx)
{
	u64 mperf[SYNC_L1_AFTER + 1], aperf[SYNC_L1_AFTER + 1];
	struct kvm_vcpu *vcpu;
	gva_t nested_gva;
	struct kvm_vm *vm;
	struct ucall uc;
	int sync;

	if (vmx) {
		vm = vcounters_vm_create(mode, 1, &vcpu, l1_vmx_code);
		vcpu_alloc_vmx(vm, &nested_gva);
	} else {
		vm = vcounters_vm_create(mode, 1, &vcpu, l1_svm_code);
		vcpu_alloc_svm(vm, &nested_gva);
	}
	vcpu_args_set(vcpu, 1, nested_gva);

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
		if (sync == SYNC_L2) {
			/* L2's exit: the vCPU is in guest mode, L2's bitmap merged. */
			vcpu_set_msr(vcpu, MSR_IA32_MPERF, MPERF_SET);
			TEST_ASSERT_EQ(vcounters_state(vcpu).aperfmperf_mode,
				       KVM_VCOUNTERS_MODE_EMULATE);
		}
	}
	vcpu_run(vcpu);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_DONE);

	ksft_print_msg("%s mode %u: MPERF L1 %lu, L2 %lu, set %llu, L2 %lu, L1 %lu\n",
		       vmx ? "VMX" : "SVM", mode, mperf[SYNC_L1_BEFORE], mperf[SYNC_L2], MPERF_SET,
		       mperf[SYNC_L2_AFTER_SET], mperf[SYNC_L1_AFTER]);
	TEST_ASSERT(mperf[SYNC_L1_BEFORE] > 0, "L1's MPERF did not count");
	TEST_ASSERT(mperf[SYNC_L1_BEFORE] <= mperf[SYNC_L2] &&
		    mperf[SYNC_L2] <= MPERF_SET,
		    "L2's MPERF %lu is not L1's (%lu..)", mperf[SYNC_L2],
		    mperf[SYNC_L1_BEFORE]);
	TEST_ASSERT(aperf[SYNC_L1_BEFORE] <= aperf[SYNC_L2] &&
		    aperf[SYNC_L2] <= aperf[SYNC_L2_AFTER_SET],
		    "L2's APERF %lu is not L1's (%lu..%lu)", aperf[SYNC_L2],
		    aperf[SYNC_L1_BEFORE], aperf[SYNC_L2_AFTER_SET]);
	/* Not the MSR's own count, far below 2^63, and not gone backwards. */
	TEST_ASSERT(mperf[SYNC_L2_AFTER_SET] >= MPERF_SET &&
		    mperf[SYNC_L2_AFTER_SET] <= mperf[SYNC_L1_AFTER],
		    "mode %u: L2 read MPERF %lu after userspace set %llu (L1 then %lu)", mode,
		    mperf[SYNC_L2_AFTER_SET], MPERF_SET, mperf[SYNC_L1_AFTER]);
	kvm_vm_free(vm);
}

static void test_l2_reads_svm(u32 mode)
{
	test_l2_reads(mode, false);
}

static void test_l2_reads_vmx(u32 mode)
{
	test_l2_reads(mode, true);
}

int main(void)
{
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_APERFMPERF);
	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM) || kvm_cpu_has(X86_FEATURE_VMX));

	if (kvm_cpu_has(X86_FEATURE_VMX))
		vcounters_for_each_mode(test_l2_reads_vmx);
	else
		ksft_print_msg("VMX half skipped: this host has no VMX (QEMU's TCG emulates SVM only)\n");
	if (kvm_cpu_has(X86_FEATURE_SVM))
		vcounters_for_each_mode(test_l2_reads_svm);
	else
		ksft_print_msg("SVM half skipped: this host has no SVM\n");
	return 0;
}
