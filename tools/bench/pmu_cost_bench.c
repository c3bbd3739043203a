// SPDX-License-Identifier: GPL-2.0-only
/*
 * What switching a mediated PMU costs the host, in accesses to the host's
 * PMU registers (KVM's mediated_pmu_msr_accesses stat: RDPMC, RDMSR and
 * WRMSR of the context switch), on a fixed guest workload:
 *  - per in-kernel VM-exit: a KVM_RUN round trip with EXITS CPUID exits
 *    minus one with none, divided by the exits between them;
 *  - per KVM_RUN round trip: the one with none;
 *  - per vcpu_load/put pair: a vCPU ioctl that enters no guest
 *    (KVM_GET_REGS), ROUND_TRIPS times;
 *  - the same exits with a host event on the vCPU's thread (cycles,
 *    exclude_guest, as perf stat/record on a VMM does).
 * The guest counts its own branches all along, so that its context is not
 * an idle one.
 *
 *   pmu_cost_bench run        a VM that opted in (KVM_VCOUNTERS_PMU) in RUN
 *   pmu_cost_bench entry      the same in ENTRY
 *   pmu_cost_bench upstream   a VM that did not, on a host where every VM
 *                             is mediated (kvm_amd.enable_mediated_pmu=1,
 *                             kvm_vcounters not loaded)
 */
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "pmu.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

#define EXITS		1000
#define ROUND_TRIPS	100

static void guest_code(void)
{
	u32 eax, ebx, ecx, edx;
	int i;

	wrmsr(MSR_F15H_PERF_CTL0, VCOUNTERS_EVSEL(AMD_ZEN_BRANCHES_RETIRED));
	for (;;) {
		GUEST_SYNC(0);		/* a bare round trip */
		for (i = 0; i < EXITS; i++)
			cpuid(0, &eax, &ebx, &ecx, &edx);
		GUEST_SYNC(1);		/* a round trip with EXITS exits */
	}
}

struct cost {
	u64 accesses, exits;
};

static struct cost cost(struct kvm_vcpu *vcpu)
{
	return (struct cost) {
		.accesses = vcpu_get_stat(vcpu, mediated_pmu_msr_accesses),
		.exits = vcpu_get_stat(vcpu, exits),
	};
}

static struct cost sync_delta(struct kvm_vcpu *vcpu)
{
	struct cost a = cost(vcpu), b;

	vcounters_run_to_sync(vcpu);
	b = cost(vcpu);
	return (struct cost) { b.accesses - a.accesses, b.exits - a.exits };
}

/* Accesses per in-kernel exit and per bare round trip. */
static void per_exit_and_trip(struct kvm_vcpu *vcpu, double *per_exit, double *per_trip)
{
	u64 bare = 0, bare_exits = 0, with = 0, with_exits = 0;
	struct cost c;

	for (int i = 0; i < ROUND_TRIPS; i++) {
		c = sync_delta(vcpu);
		bare += c.accesses;
		bare_exits += c.exits;
		c = sync_delta(vcpu);
		with += c.accesses;
		with_exits += c.exits;
	}
	*per_exit = (double)(with - bare) / (with_exits - bare_exits);
	*per_trip = (double)bare / ROUND_TRIPS;
}

int main(int argc, char *argv[])
{
	const char *mode = argc == 2 ? argv[1] : "";
	bool run = !strcmp(mode, "run"), entry = !strcmp(mode, "entry");
	double per_exit, per_trip, per_exit_host, per_trip_host;
	struct kvm_regs regs;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	u64 pair;
	int fd;

	TEST_ASSERT(run || entry || !strcmp(mode, "upstream"),
		    "usage: pmu_cost_bench run|entry|upstream");
	TEST_REQUIRE(host_cpu_is_amd);
	TEST_REQUIRE(kvm_is_mediated_pmu_enabled());
	if (run || entry) {
		vm = vcounters_pmu_vm_create(run ? KVM_VCOUNTERS_MODE_RUN :
					     KVM_VCOUNTERS_MODE_ENTRY, guest_code, &vcpu);
	} else {
		TEST_REQUIRE(!kvm_check_cap(KVM_CAP_X86_VCOUNTERS));
		vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	}

	/* Warm up: first entry, first faults. */
	for (int i = 0; i < 4; i++)
		sync_delta(vcpu);
	TEST_ASSERT(cost(vcpu).accesses, "no PMU context switched: not mediated");

	per_exit_and_trip(vcpu, &per_exit, &per_trip);

	pair = cost(vcpu).accesses;
	for (int i = 0; i < ROUND_TRIPS; i++)
		vcpu_regs_get(vcpu, &regs);
	pair = cost(vcpu).accesses - pair;

	fd = vcounters_host_event_on(PERF_COUNT_HW_CPU_CYCLES, true, 0, -1);
	TEST_ASSERT(fd >= 0, "host cycles event, exclude_guest: errno %d", errno);
	per_exit_and_trip(vcpu, &per_exit_host, &per_trip_host);
	close(fd);

	printf("%-9s %9.2f %9.2f %9.2f %12.2f %12.2f\n",
	       run ? "RUN" : entry ? "ENTRY" : "upstream", per_exit, per_trip,
	       (double)pair / ROUND_TRIPS, per_exit_host, per_trip_host);
	kvm_vm_free(vm);
	return 0;
}
