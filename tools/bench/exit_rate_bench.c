// SPDX-License-Identifier: GPL-2.0-only
/*
 * Exit-rate benchmark: a guest executes CPUID, which always exits to KVM
 * and is handled in the kernel, N times in a loop; print the exits per
 * second the host saw. Built with the KVM selftest library; scripts/bench
 * runs it with and without kvm_vcounters loaded in the same boot.
 *
 *   exit_rate_bench [N] [opt-in]   (default N = 20000; "opt-in" enables
 *                                   KVM_CAP_X86_VCOUNTERS on the VM)
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"

static void guest_code(u64 n)
{
	u32 eax, ebx, ecx, edx;
	u64 i;

	for (i = 0; i < n; i++)
		cpuid(0, &eax, &ebx, &ecx, &edx);
	GUEST_DONE();
}

int main(int argc, char *argv[])
{
	u64 n = argc > 1 ? strtoull(argv[1], NULL, 0) : 20000;
	bool opt_in = argc > 2 && !strcmp(argv[2], "opt-in");
	struct timespec t0, t1;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	double secs;

	vm = vm_create(1);
	if (opt_in)
		vm_enable_cap(vm, KVM_CAP_X86_VCOUNTERS, KVM_VCOUNTERS_APERFMPERF);
	vcpu = vm_vcpu_add(vm, 0, guest_code);
	vcpu_args_set(vcpu, 1, n);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	vcpu_run(vcpu);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_DONE);

	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("exits %lu seconds %.3f exits_per_sec %.0f\n", n, secs, n / secs);
	kvm_vm_free(vm);
	return 0;
}
