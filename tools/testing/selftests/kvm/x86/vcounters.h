/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the vcounters_*.c selftests: the CPUID bit, enabling
 * the capability, creating a VM that opted in, reading a vCPU's state, the
 * fuzz tests' random numbers, the kernel log, and host perf events.
 */
#ifndef SELFTEST_KVM_VCOUNTERS_H
#define SELFTEST_KVM_VCOUNTERS_H

#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <linux/kvm_vcounters.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>

#include "apic.h"
#include "kvm_util.h"
#include "pmu.h"
#include "processor.h"
#include "test_util.h"

#define X86_FEATURE_APERFMPERF	KVM_X86_CPU_FEATURE(0x6, 0, ECX, 0)

/*
 * KVM_ENABLE_CAP(KVM_CAP_X86_VCOUNTERS) for @features, APERF/MPERF in
 * @aperfmperf_mode and the PMU in @pmu_mode.
 */
static inline int __vcounters_enable_modes(struct kvm_vm *vm, u64 features,
					   u32 aperfmperf_mode, u32 pmu_mode)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_X86_VCOUNTERS,
		.args = { features, aperfmperf_mode, pmu_mode },
	};

	return __vm_ioctl(vm, KVM_ENABLE_CAP, &cap);
}

/* KVM_ENABLE_CAP(KVM_CAP_X86_VCOUNTERS) for @features in @mode. */
static inline int __vcounters_enable(struct kvm_vm *vm, u64 features, u32 mode)
{
	return __vcounters_enable_modes(vm, features, mode, KVM_VCOUNTERS_MODE_AUTO);
}

/* KVM_ENABLE_CAP(KVM_CAP_X86_VCOUNTERS) for the PMU in @pmu_mode. */
static inline int __vcounters_enable_pmu(struct kvm_vm *vm, u32 pmu_mode)
{
	return __vcounters_enable_modes(vm, KVM_VCOUNTERS_PMU, KVM_VCOUNTERS_MODE_AUTO,
					pmu_mode);
}

/* A VM with the PMU feature in @pmu_mode and one vCPU running @code. */
static inline struct kvm_vm *vcounters_pmu_vm_create(u32 pmu_mode, void *code,
						     struct kvm_vcpu **vcpu)
{
	struct kvm_vm *vm = vm_create(1);

	TEST_ASSERT(!__vcounters_enable_pmu(vm, pmu_mode),
		    "KVM_VCOUNTERS_PMU in mode %u: errno %d", pmu_mode, errno);
	*vcpu = vm_vcpu_add(vm, 0, code);
	return vm;
}

/* A counter selector counting @event in user and kernel mode. */
#define VCOUNTERS_EVSEL(event)	((event) | ARCH_PERFMON_EVENTSEL_USR | \
				 ARCH_PERFMON_EVENTSEL_OS | \
				 ARCH_PERFMON_EVENTSEL_ENABLE)

/*
 * Guest code: @n iterations of 4 instructions, CPUID among them (which
 * exits to KVM and is counted by KVM when it skips it), and 1 branch.
 */
static inline void vcounters_guest_cpuid_loop(unsigned long n)
{
	asm volatile("1: mov $0, %%eax\n\tcpuid\n\tdec %%rsi\n\tjnz 1b"
		     : "+S"(n) : : "eax", "ebx", "ecx", "edx", "cc");
}

/*
 * A VM with APERF/MPERF in @mode and @nr_vcpus vCPUs running @guest_code,
 * each given the CPUID bit.
 */
static inline struct kvm_vm *vcounters_vm_create(u32 mode, int nr_vcpus,
						 struct kvm_vcpu **vcpus,
						 void *guest_code)
{
	struct kvm_vm *vm = vm_create(nr_vcpus);
	int i;

	TEST_ASSERT(!__vcounters_enable(vm, KVM_VCOUNTERS_APERFMPERF, mode),
		    "KVM_ENABLE_CAP(KVM_CAP_X86_VCOUNTERS) in mode %u", mode);
	for (i = 0; i < nr_vcpus; i++) {
		vcpus[i] = vm_vcpu_add(vm, i, guest_code);
		vcpu_set_cpuid_feature(vcpus[i], X86_FEATURE_APERFMPERF);
	}
	return vm;
}

static inline struct kvm_vcounters_vcpu_state vcounters_state(struct kvm_vcpu *vcpu)
{
	struct kvm_vcounters_vcpu_state st;

	vcpu_ioctl(vcpu, KVM_VCOUNTERS_GET_VCPU_STATE, &st);
	return st;
}

/* Whether the host has APERF/MPERF (KVM offers upstream's passthrough). */
/* The stats the module describes in the binary stats of an opted-in vCPU. */
static const char * const vcounters_stat_names[] = {
	"vcounters_live_ns", "vcounters_halted_ns", "vcounters_switches",
	"vcounters_msr_accesses_run", "vcounters_msr_accesses_entry",
	"vcounters_msr_exits",
};

/* Whether the binary stats of @vcpu (KVM_GET_STATS_FD) describe @name. */
static inline bool vcounters_vcpu_has_stat(struct kvm_vcpu *vcpu, const char *name)
{
	struct kvm_stats_header header;
	struct kvm_stats_desc *descs;
	bool found = false;
	int i;

	read_stats_header(vcpu->stats.fd, &header);
	descs = read_stats_descriptors(vcpu->stats.fd, &header);
	for (i = 0; i < header.num_desc; i++)
		found |= !strcmp(get_stats_descriptor(descs, i, &header)->name, name);
	free(descs);
	return found;
}

/* Runs @vcpu to its next GUEST_SYNC, reporting a guest assertion. */
static inline struct ucall vcounters_run_to_sync(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	if (get_ucall(vcpu, &uc) == UCALL_ABORT)
		REPORT_GUEST_ASSERT(uc);
	TEST_ASSERT_EQ(uc.cmd, UCALL_SYNC);
	return uc;
}

static inline bool vcounters_host_has_aperfmperf(void)
{
	return kvm_check_cap(KVM_CAP_X86_DISABLE_EXITS) & KVM_X86_DISABLE_EXITS_APERFMPERF;
}

/*
 * A generator seeded from the library's seed, which it prints ("Random
 * seed: 0x...") at startup, so that a failing run can be repeated: @arg,
 * a seed from the command line, replaces it unless NULL or 0 (the library
 * then prints it again, and seeds the guests' kvm_rng from it, at the next
 * VM creation).
 */
static inline struct kvm_random_state vcounters_rng(const char *arg)
{
	u32 seed = arg ? strtoul(arg, NULL, 0) : 0;

	if (seed)
		kvm_random_seed = seed;
	/* Park-Miller: a multiple of its modulus would give only zeroes. */
	TEST_ASSERT(kvm_random_seed % 0x7fffffff, "seed 0x%x: pick another", kvm_random_seed);
	return new_kvm_random_state(kvm_random_seed);
}

/*
 * 64 random bits. kvm_random_u32() gives 31, so kvm_random_u64() never
 * sets bits 31 and 63, and the fuzz tests need values at and above 2^63.
 */
static inline u64 vcounters_random_u64(struct kvm_random_state *state)
{
	u64 v = kvm_random_u32(state);

	v = v << 31 | kvm_random_u32(state);
	return v << 2 | (kvm_random_u32(state) & 3);
}

/*
 * Runs @test in EMULATE and, where the host has APERFMPERF (make check's
 * hw layer), in RUN and ENTRY; says which modes could not run here.
 */
static inline void vcounters_for_each_mode(void (*test)(u32 mode))
{
	static const u32 modes[] = {
		KVM_VCOUNTERS_MODE_EMULATE, KVM_VCOUNTERS_MODE_RUN, KVM_VCOUNTERS_MODE_ENTRY,
	};
	bool hw = vcounters_host_has_aperfmperf();
	int i;

	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		if (modes[i] != KVM_VCOUNTERS_MODE_EMULATE && !hw)
			ksft_print_msg("mode %u needs host APERFMPERF: not run here\n", modes[i]);
		else
			test(modes[i]);
	}
}

/* The TSC rate of @vm's vCPUs in kHz; the tests' time bounds follow it. */
/*
 * Copies into @msg (@size bytes; none if 0) the text of the last record of
 * the kernel log whose text contains @needle; false if there is none.
 */
static inline bool vcounters_kmsg_last(const char *needle, char *msg, size_t size)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	bool found = false;
	char rec[1024];
	ssize_t n;

	TEST_ASSERT(fd >= 0, "open /dev/kmsg: errno %d", errno);
	/* One record per read; EAGAIN at the end, EPIPE where one was lost. */
	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		char *text;

		if (n < 0)
			continue;
		rec[n] = 0;
		text = strchr(rec, ';');
		if (text && strstr(text + 1, needle)) {
			snprintf(msg, size, "%s", text + 1);
			found = true;
		}
	}
	close(fd);
	return found;
}

/*
 * A hardware event for task @pid (0: this thread, -1: any) on @cpu (-1:
 * any), enabled, reading its enabled and running times after its count
 * (struct vcounters_host_count); -1 if refused.
 */
static inline int vcounters_host_event_on(u64 config, bool exclude_guest,
					  pid_t pid, int cpu)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_HARDWARE,
		.size = sizeof(attr),
		.config = config,
		.exclude_guest = exclude_guest,
		.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED |
			       PERF_FORMAT_TOTAL_TIME_RUNNING,
	};

	return syscall(__NR_perf_event_open, &attr, pid, cpu, -1, 0);
}

/* What read() returns for an event of vcounters_host_event_on(). */
struct vcounters_host_count {
	u64 count;
	u64 enabled_ns;
	u64 running_ns;
};

static inline struct vcounters_host_count vcounters_host_read(int fd)
{
	struct vcounters_host_count c;

	TEST_ASSERT(read(fd, &c, sizeof(c)) == sizeof(c),
		    "read of a host event: errno %d", errno);
	return c;
}

/* 2 instructions and 1 branch per iteration, no VM-exit. */
static inline void vcounters_guest_loop(unsigned long n)
{
	asm volatile("1: dec %0\n\tjnz 1b" : "+r"(n) : : "cc");
}

#define APIC_LVTPC		0x340
#define VCOUNTERS_PMI_VECTOR	0xe3

/* PMIs the guest took: READ_ONCE() in guest code. */
static int vcounters_guest_pmis __maybe_unused;

/* Install for VCOUNTERS_PMI_VECTOR (vm_install_exception_handler()). */
static inline void vcounters_guest_pmi_handler(struct ex_regs *regs)
{
	WRITE_ONCE(vcounters_guest_pmis, vcounters_guest_pmis + 1);
	x2apic_write_reg(APIC_EOI, 0);
}

/* Counter 0 counts @event from @period below its 48-bit overflow, with a PMI. */
static inline void vcounters_guest_arm_pmi(u64 event, u64 period)
{
	wrmsr(MSR_F15H_PERF_CTL0, 0);
	wrmsr(MSR_F15H_PERF_CTR0, BIT_ULL(48) - period);
	wrmsr(MSR_F15H_PERF_CTL0, VCOUNTERS_EVSEL(event) | ARCH_PERFMON_EVENTSEL_INT);
}

static inline u64 vcounters_tsc_khz(struct kvm_vm *vm)
{
	int khz = __vm_ioctl(vm, KVM_GET_TSC_KHZ, NULL);

	TEST_ASSERT(khz > 0, "KVM_GET_TSC_KHZ: %d", khz);
	return khz;
}

/* @ms milliseconds in ticks of a TSC running at @tsc_khz. */
static inline u64 vcounters_ms_to_tsc(u64 tsc_khz, u64 ms)
{
	return tsc_khz * ms;
}

#endif /* SELFTEST_KVM_VCOUNTERS_H */
