// SPDX-License-Identifier: GPL-2.0-only
/*
 * What each APERF/MPERF mode costs in host MSR accesses and exits, on a
 * fixed guest workload, from the vCPU's binary stats:
 *  - per in-kernel VM-exit: a KVM_RUN round trip with EXITS CPUID exits
 *    minus one with none, divided by EXITS;
 *  - per KVM_RUN round trip: the one with none;
 *  - per vcpu_load/put pair: RUN accesses over the switches (live starts
 *    and stops, two per pair);
 *  - exits per guest read: APERF/MPERF exits over READS guest RDMSRs;
 *  - a guest WRMSR storm (RUN, ENTRY): host MSR accesses per guest WRMSR,
 *    and the host MPERF the storm makes the host lose per second: on CPU 1,
 *    kept out of halt by an idle spinner, the host's MPERF should advance
 *    with the TSC; what it lacks after STORM_WRITES writes is the loss.
 * Needs host APERFMPERF for RUN and ENTRY (make bench's test machine has
 * them).
 *
 *   msr_cost_bench
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <linux/kvm_vcounters.h>
#include <asm/msr-index.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

#define EXITS			1000
#define READS			1000
#define ROUND_TRIPS		100
#define STORM_WRITES		20000

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

	vcounters_run_to_sync(vcpu);
	b = stats(vcpu);
	return (struct stats) {
		b.run - a.run, b.entry - a.entry, b.switches - a.switches,
		b.msr_exits - a.msr_exits, b.exits - a.exits,
	};
}

static void measure(const char *name, u32 mode)
{
	u64 bare = 0, with_exits = 0, exits = 0, bare_exits = 0, reads = 0, read_exits = 0;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct stats s, total0, total1;
	int i;

	/* Not vcounters_vm_create(): a mode this host lacks is reported, not fatal. */
	vm = vm_create(1);
	if (__vcounters_enable(vm, KVM_VCOUNTERS_APERFMPERF, mode)) {
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

static void guest_storm(void)
{
	int i;

	for (;;) {
		GUEST_SYNC(0);
		for (i = 0; i < STORM_WRITES; i++)
			wrmsr(MSR_IA32_MPERF, (u64)i << 20);
		GUEST_SYNC(1);
	}
}

static volatile bool spin_stop;

static void *spin_idle(void *arg)
{
	struct sched_param none = { 0 };

	pin_self_to_cpu(1);
	TEST_ASSERT(!sched_setscheduler(0, SCHED_IDLE, &none), "SCHED_IDLE");
	while (!spin_stop)
		;
	return NULL;
}

static u64 host_mperf(int fd)
{
	u64 v;

	TEST_ASSERT(pread(fd, &v, 8, MSR_IA32_MPERF) == 8, "read host MPERF");
	return v;
}

static void storm(const char *name, u32 mode, u64 tsc_khz)
{
	int fd = open("/dev/cpu/1/msr", O_RDONLY);
	u64 t0, t1, m0, m1, lost;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct stats s;

	if (fd < 0) {
		printf("%-8s no /dev/cpu/1/msr\n", name);
		return;
	}
	vm = vm_create(1);
	if (__vcounters_enable(vm, KVM_VCOUNTERS_APERFMPERF, mode)) {
		printf("%-8s not available on this host (errno %d)\n", name, errno);
		goto out;
	}
	vcpu = vm_vcpu_add(vm, 0, guest_storm);
	vcpu_set_cpuid_feature(vcpu, X86_FEATURE_APERFMPERF);
	pin_self_to_cpu(1);
	sync_delta(vcpu);
	sync_delta(vcpu);
	sync_delta(vcpu);	/* warm: the next run is the storm */
	t0 = rdtsc();
	m0 = host_mperf(fd);
	s = sync_delta(vcpu);
	m1 = host_mperf(fd);
	t1 = rdtsc();
	lost = t1 - t0 > m1 - m0 ? (t1 - t0) - (m1 - m0) : 0;
	printf("%-8s %10.2f %14.0f %10.3f%%   (%d writes in %.0f ms, %lu exits)\n", name,
	       (double)accesses(s) / STORM_WRITES, lost * 1000.0 / ((t1 - t0) / (double)tsc_khz),
	       100.0 * lost / (t1 - t0), STORM_WRITES, (t1 - t0) / (double)tsc_khz, s.exits);
out:
	close(fd);
	kvm_vm_free(vm);
}

int main(void)
{
	pthread_t spinner;
	u64 tsc_khz;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_APERFMPERF);
	printf("MSR accesses per in-kernel VM-exit, per KVM_RUN round trip, per vcpu_load/put\n");
	printf("pair; exits per guest APERF/MPERF read. %d round trips of each kind.\n",
	       ROUND_TRIPS);
	printf("%-8s %10s %10s %10s %10s\n", "mode", "per-exit", "per-trip", "per-pair",
	       "exits/read");
	measure("EMULATE", KVM_VCOUNTERS_MODE_EMULATE);
	measure("RUN", KVM_VCOUNTERS_MODE_RUN);
	measure("ENTRY", KVM_VCOUNTERS_MODE_ENTRY);

	printf("\nA guest WRMSR storm on CPU 1, kept out of halt: host MSR accesses per guest\n");
	printf("WRMSR, and host MPERF lost (TSC cycles per second, share of the CPU).\n");
	printf("%-8s %10s %14s %11s\n", "mode", "acc/write", "lost cycles/s", "lost");
	{
		struct kvm_vm *vm = vm_create_barebones();

		tsc_khz = __vm_ioctl(vm, KVM_GET_TSC_KHZ, NULL);
		kvm_vm_free(vm);
	}
	pthread_create(&spinner, NULL, spin_idle, NULL);
	storm("EMULATE", KVM_VCOUNTERS_MODE_EMULATE, tsc_khz);
	storm("RUN", KVM_VCOUNTERS_MODE_RUN, tsc_khz);
	storm("ENTRY", KVM_VCOUNTERS_MODE_ENTRY, tsc_khz);
	spin_stop = true;
	pthread_join(spinner, NULL);
	return 0;
}
