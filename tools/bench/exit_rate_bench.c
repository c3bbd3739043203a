// SPDX-License-Identifier: GPL-2.0-only
/*
 * Exit-rate benchmark: a guest executes CPUID, which always exits to KVM
 * and is handled in the kernel, N times in a loop; print the exits per
 * second the host saw. Built with the KVM selftest library; scripts/bench
 * runs it with and without kvm_vcounters loaded in the same boot.
 *
 *   exit_rate_bench [N] [VM]   default N = 20000; VM is one of
 *     opt-in      KVM_CAP_X86_VCOUNTERS with APERF/MPERF (AUTO)
 *     pmu-run     with the PMU in RUN, the guest counting its branches
 *     pmu-entry   the same in ENTRY
 *     no-pmu      a VM without a PMU (KVM_PMU_CAP_DISABLE)
 *   and by default a plain VM.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "pmu.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

static void guest_code(u64 n, bool count_branches)
{
	u32 eax, ebx, ecx, edx;
	u64 i;

	if (count_branches)
		wrmsr(MSR_F15H_PERF_CTL0, VCOUNTERS_EVSEL(AMD_ZEN_BRANCHES_RETIRED));
	for (i = 0; i < n; i++)
		cpuid(0, &eax, &ebx, &ecx, &edx);
	GUEST_DONE();
}

int main(int argc, char *argv[])
{
	u64 n = argc > 1 ? strtoull(argv[1], NULL, 0) : 20000;
	const char *kind = argc > 2 ? argv[2] : "plain";
	bool pmu_run = !strcmp(kind, "pmu-run"), pmu_entry = !strcmp(kind, "pmu-entry");
	struct timespec t0, t1;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	double secs;

	vm = vm_create(1);
	if (!strcmp(kind, "opt-in"))
		vm_enable_cap(vm, KVM_CAP_X86_VCOUNTERS, KVM_VCOUNTERS_APERFMPERF);
	else if (pmu_run || pmu_entry)
		TEST_ASSERT(!__vcounters_enable_pmu(vm, pmu_run ? KVM_VCOUNTERS_MODE_RUN :
						    KVM_VCOUNTERS_MODE_ENTRY),
			    "KVM_VCOUNTERS_PMU: errno %d", errno);
	else if (!strcmp(kind, "no-pmu"))
		vm_enable_cap(vm, KVM_CAP_PMU_CAPABILITY, KVM_PMU_CAP_DISABLE);
	else
		TEST_ASSERT(!strcmp(kind, "plain"), "unknown VM kind %s", kind);
	vcpu = vm_vcpu_add(vm, 0, guest_code);
	vcpu_args_set(vcpu, 2, n, pmu_run || pmu_entry);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	vcpu_run(vcpu);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_DONE);

	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("exits %lu seconds %.3f exits_per_sec %.0f\n", n, secs, n / secs);
	kvm_vm_free(vm);
	return 0;
}
