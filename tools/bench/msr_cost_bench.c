// SPDX-License-Identifier: GPL-2.0-only
/*
 * What each APERF/MPERF mode costs in host MSR accesses and exits, on a
 * fixed guest workload, from the vCPU's binary stats:
 *  - per in-kernel VM-exit: a KVM_RUN round trip with EXITS CPUID exits
 *    minus one with none, divided by EXITS;
 *  - per KVM_RUN round trip: the one with none;
 *  - per vcpu_load/put pair: RUN accesses over the switches (live starts
 *    and stops, two per pair);
 *  - exits per guest read: APERF/MPERF exits over READS guest RDMSRs.
 * Needs host APERFMPERF for RUN and ENTRY (make bench's test machine has
 * them).
 *
 *   msr_cost_bench
 */
#include <linux/kvm_vcounters.h>
#include <asm/msr-index.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"

#define X86_FEATURE_APERFMPERF	KVM_X86_CPU_FEATURE(0x6, 0, ECX, 0)
#define EXITS			1000
#define READS			1000
#define ROUND_TRIPS		100

static void guest_code(void)
{
	u32 eax, ebx, ecx, edx;
	u64 v = 0;
	int i;

	for (;;) {
		GUEST_SYNC(0);		/* a bare round trip */
		for (i = 0; i < EXITS; i++)
			cpuid(0, &eax, &ebx, &ecx, &edx);
		GUEST_SYNC(1);		/* a round trip with EXITS exits */
		for (i = 0; i < READS; i++)
			v += rdmsr(i & 1 ? MSR_IA32_APERF : MSR_IA32_MPERF);
		GUEST_SYNC(v);		/* READS reads */
	}
}

struct stats {
	u64 run, entry, switches, msr_exits, exits;
};

static struct stats stats(struct kvm_vcpu *vcpu)
{
	return (struct stats) {
		.run = vcpu_get_stat(vcpu, vcounters_msr_accesses_run),
		.entry = vcpu_get_stat(vcpu, vcounters_msr_accesses_entry),
		.switches = vcpu_get_stat(vcpu, vcounters_switches),
		.msr_exits = vcpu_get_stat(vcpu, vcounters_msr_exits),
		.exits = vcpu_get_stat(vcpu, exits),
	};
}

static u64 accesses(struct stats s)
{
	return s.run + s.entry;
}

static struct stats sync_delta(struct kvm_vcpu *vcpu)
{
	struct stats a = stats(vcpu), b;
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_SYNC);
	b = stats(vcpu);
	return (struct stats) {
		b.run - a.run, b.entry - a.entry, b.switches - a.switches,
		b.msr_exits - a.msr_exits, b.exits - a.exits,
	};
}

static void measure(const char *name, u32 mode)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_X86_VCOUNTERS,
		.args = { KVM_VCOUNTERS_APERFMPERF, mode },
	};
	u64 bare = 0, with_exits = 0, exits = 0, bare_exits = 0, reads = 0, read_exits = 0;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct stats s, total0, total1;
	int i;

	vm = vm_create(1);
	if (__vm_ioctl(vm, KVM_ENABLE_CAP, &cap)) {
		printf("%-8s not available on this host (errno %d)\n", name, errno);
		kvm_vm_free(vm);
		return;
	}
	vcpu = vm_vcpu_add(vm, 0, guest_code);
	vcpu_set_cpuid_feature(vcpu, X86_FEATURE_APERFMPERF);
	sync_delta(vcpu);	/* warm up: first entry, first faults */
	sync_delta(vcpu);
	sync_delta(vcpu);
	total0 = stats(vcpu);
	for (i = 0; i < ROUND_TRIPS; i++) {
		s = sync_delta(vcpu);		/* a bare round trip */
		bare += accesses(s);
		bare_exits += s.exits;
		s = sync_delta(vcpu);		/* EXITS CPUID exits */
		with_exits += accesses(s);
		exits += s.exits;
		s = sync_delta(vcpu);		/* READS reads */
		reads += READS;
		read_exits += s.msr_exits;
	}
	total1 = stats(vcpu);
	printf("%-8s %10.3f %10.2f %10.2f %10.3f   (%lu exits, %lu switches)\n", name,
	       exits > bare_exits ?
	       (double)(with_exits - bare) / (exits - bare_exits) : 0.0,
	       (double)bare / ROUND_TRIPS,
	       total1.switches > total0.switches ?
	       (double)(total1.run - total0.run) * 2 / (total1.switches - total0.switches) : 0.0,
	       (double)read_exits / reads, exits - bare_exits, total1.switches - total0.switches);
	kvm_vm_free(vm);
}

int main(void)
{
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_APERFMPERF);
	printf("MSR accesses per in-kernel VM-exit, per KVM_RUN round trip, per vcpu_load/put\n");
	printf("pair; exits per guest APERF/MPERF read. %d round trips of each kind.\n",
	       ROUND_TRIPS);
	printf("%-8s %10s %10s %10s %10s\n", "mode", "per-exit", "per-trip", "per-pair",
	       "exits/read");
	measure("EMULATE", KVM_VCOUNTERS_MODE_EMULATE);
	measure("RUN", KVM_VCOUNTERS_MODE_RUN);
	measure("ENTRY", KVM_VCOUNTERS_MODE_ENTRY);
	return 0;
}
