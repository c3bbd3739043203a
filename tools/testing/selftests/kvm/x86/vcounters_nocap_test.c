// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm_vcounters loaded, VM not opted in: guest access to IA32_APERF and
 * IA32_MPERF must behave exactly as on a kernel without the module, i.e.
 * RDMSR and WRMSR take #GP (upstream only passes the MSRs through with
 * KVM_X86_DISABLE_EXITS_APERFMPERF, which this test does not set).
 */
#include <unistd.h>
#include <asm/msr-index.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"

static const u32 counter_msrs[] = { MSR_IA32_APERF, MSR_IA32_MPERF };

static void guest_code(void)
{
	u64 val;
	int i;

	for (i = 0; i < ARRAY_SIZE(counter_msrs); i++) {
		GUEST_ASSERT_EQ(rdmsr_safe(counter_msrs[i], &val), GP_VECTOR);
		GUEST_ASSERT_EQ(wrmsr_safe(counter_msrs[i], 1), GP_VECTOR);
		GUEST_SYNC(i);
	}
	GUEST_DONE();
}

int main(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	int synced = 0;

	TEST_REQUIRE(access("/sys/module/kvm_vcounters", F_OK) == 0);

	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	for (;;) {
		vcpu_run(vcpu);
		TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			TEST_ASSERT_EQ(uc.args[1], synced);
			synced++;
			continue;
		case UCALL_DONE:
			break;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
		default:
			TEST_FAIL("Unexpected ucall %lu", uc.cmd);
		}
		break;
	}
	TEST_ASSERT_EQ(synced, ARRAY_SIZE(counter_msrs));
	kvm_vm_free(vm);
	return 0;
}
