// SPDX-License-Identifier: GPL-2.0-only
/*
 * The PMU feature: KVM_VCOUNTERS_PMU gives one VM KVM's mediated vPMU,
 * per VM, on a host whose kvm_amd was loaded with enable_mediated_pmu=1
 * (make check's pmu boot, on the test machine's AMD PerfMonV2 model):
 *
 *   cap         the PMU bit is offered; AUTO, RUN and ENTRY are accepted,
 *               EMULATE is refused (-EINVAL) and changes nothing
 *   exact       an opted-in vCPU reports pmu_mode RUN for AUTO and RUN,
 *               ENTRY for ENTRY, and counts exactly the instructions and
 *               branches of a known loop, read with RDMSR and RDPMC, also
 *               when every iteration exits to KVM (CPUID)
 *   kinds       a VM that did not opt in gets the perf-based vPMU: it
 *               counts while no VM is mediated, and while one is its
 *               counter counts only what KVM emulates (perf refuses events
 *               that count guests then, upstream's rule); the opted-in VM
 *               next to it is still exact
 *   filter      a deny filter on retired instructions: the guest's counter
 *               programmed for them stays at 0, and the guest reads back
 *               the selector it wrote
 *   pmi         a sampling counter overflows: the guest takes its PMI
 *               through LVTPC, once, and sees the overflow in its status;
 *               KVM's pmi_injections stat counts that one PMI
 *   cost        KVM's mediated_pmu_msr_accesses stat, in ENTRY: a load
 *               and a put of a guest PMU that is never programmed cost
 *               exactly what KVM's switch does for an idle PMU (RDPMC
 *               and the selector per counter, the global MSRs), one that
 *               counts no more than its worst case; a VM that did not
 *               opt in, none
 *   host_perf   on the host, while a mediated VM exists: an event that
 *               does not exclude guests is refused (EOPNOTSUPP), and one
 *               with exclude_guest on the vCPU's thread counts none of a
 *               guest loop of a million iterations
 *   busy        while a host event counts guests, the first vCPU of an
 *               opted-in VM cannot be created (EBUSY, perf refuses the
 *               mediated PMU), and can once the event is closed
 *   fuzz        random values into every PMU MSR, from KVM_SET_MSRS and
 *               from the guest (WRMSR, faults allowed): the host stays
 *               sound, and the VM then counts its loop exactly again
 *   fewer       a guest given fewer counters than the host has: RDMSR,
 *               WRMSR and RDPMC of one it was not given #GP
 *   migrate     KVM_GET_MSRS of the PMU MSRs of one VM and KVM_SET_MSRS
 *               into a new opted-in VM: the count goes on from there, as
 *               in a VM that stayed
 */
#include <linux/perf_event.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "apic.h"
#include "kvm_util.h"
#include "pmu.h"
#include "processor.h"
#include "ucall_common.h"
#include "vcounters.h"

/* Iterations of the short and the long loop: the difference is exact. */
#define SHORT_LOOP	1000
#define LONG_LOOP	3000
/* Iterations of the loops that exit to KVM at each (CPUID). */
#define EXIT_SHORT	20
#define EXIT_LONG	60

/* RDPMC of counter @idx, which must not fault. */
static u64 guest_rdpmc(u32 idx)
{
	u64 val;

	GUEST_ASSERT_EQ(rdpmc_safe(idx, &val), 0);
	return val;
}

/*
 * Counts @event on counter 0 around @loop(@n): the count, read with RDMSR
 * and, checked equal, with RDPMC.
 */
static u64 guest_count(u64 event, void (*loop)(unsigned long), unsigned long n)
{
	u64 count;

	wrmsr(MSR_F15H_PERF_CTL0, 0);
	wrmsr(MSR_F15H_PERF_CTR0, 0);
	wrmsr(MSR_F15H_PERF_CTL0, VCOUNTERS_EVSEL(event));
	loop(n);
	wrmsr(MSR_F15H_PERF_CTL0, 0);
	count = rdmsr(MSR_F15H_PERF_CTR0);
	GUEST_ASSERT_EQ(count, guest_rdpmc(0));
	return count;
}

/*
 * @event over @n_long minus over @n_short iterations of @loop, so that
 * what the WRMSRs around each run add cancels out.
 */
static u64 guest_count_diff(u64 event, void (*loop)(unsigned long),
			    unsigned long n_long, unsigned long n_short)
{
	return guest_count(event, loop, n_long) - guest_count(event, loop, n_short);
}

/* Reports the instructions and branches of both loops, as differences. */
static void guest_code(void)
{
	GUEST_SYNC_ARGS(0,
			guest_count_diff(AMD_ZEN_INSTRUCTIONS_RETIRED, vcounters_guest_loop,
					 LONG_LOOP, SHORT_LOOP),
			guest_count_diff(AMD_ZEN_BRANCHES_RETIRED, vcounters_guest_loop,
					 LONG_LOOP, SHORT_LOOP), 0, 0);
	GUEST_SYNC_ARGS(1,
			guest_count_diff(AMD_ZEN_INSTRUCTIONS_RETIRED, vcounters_guest_cpuid_loop,
					 EXIT_LONG, EXIT_SHORT),
			guest_count_diff(AMD_ZEN_BRANCHES_RETIRED, vcounters_guest_cpuid_loop,
					 EXIT_LONG, EXIT_SHORT), 0, 0);
	GUEST_DONE();
}

/* Counts the loop once and reports the raw count. */
static void guest_count_once(void)
{
	GUEST_SYNC(guest_count(AMD_ZEN_INSTRUCTIONS_RETIRED, vcounters_guest_loop, LONG_LOOP));
	GUEST_DONE();
}

static u64 pmu_switches(struct kvm_vcpu *vcpu)
{
	return vcpu_get_stat(vcpu, vcounters_pmu_switches);
}

static void test_cap(void)
{
	struct kvm_vm *vm = vm_create(1);
	int r;

	TEST_ASSERT(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_PMU,
		    "mediated PMU on the host, but no KVM_VCOUNTERS_PMU");
	r = __vcounters_enable_pmu(vm, KVM_VCOUNTERS_MODE_EMULATE);
	TEST_ASSERT(r == -1 && errno == EINVAL,
		    "PMU EMULATE mode: %d errno %d, want EINVAL", r, errno);
	/* Nothing changed: the VM can still opt in, in RUN. */
	TEST_ASSERT(!__vcounters_enable_pmu(vm, KVM_VCOUNTERS_MODE_RUN),
		    "PMU RUN mode after a refusal: errno %d", errno);
	kvm_vm_free(vm);
}

/*
 * Runs @vcpu to its next sync and returns it, with the number of
 * VM-entries meanwhile in @entries (KVM counts each VM-exit).
 */
static struct ucall run_counting_entries(struct kvm_vcpu *vcpu, u64 *entries)
{
	u64 exits = vcpu_get_stat(vcpu, exits);
	struct ucall uc = vcounters_run_to_sync(vcpu);

	*entries = vcpu_get_stat(vcpu, exits) - exits;
	return uc;
}

/*
 * What the guest counted is exact, up to one instruction per VM-entry
 * that is not part of the loop: AMD counts the VMRUN that resumes a guest
 * as one of the guest's instructions (so does the test machine's model),
 * and an entry that an interrupt adds to the long or the short run does
 * not cancel out.
 */
static void check_count(const char *what, u64 count, u64 exact, u64 slack)
{
	TEST_ASSERT(count + slack >= exact && count <= exact + slack,
		    "%s: %lu, want %lu within %lu", what, count, exact, slack);
}

static void check_exact(struct kvm_vcpu *vcpu)
{
	struct ucall uc;
	u64 entries, d;

	uc = run_counting_entries(vcpu, &entries);
	TEST_ASSERT_EQ(uc.args[1], 0);
	d = LONG_LOOP - SHORT_LOOP;
	pr_info("  loop: %lu instructions, %lu branches per %lu iterations (%lu VM-entries)\n",
		uc.args[2], uc.args[3], d, entries);
	check_count("loop instructions", uc.args[2], 2 * d, entries);
	TEST_ASSERT_EQ(uc.args[3], d);

	uc = run_counting_entries(vcpu, &entries);
	TEST_ASSERT_EQ(uc.args[1], 1);
	d = EXIT_LONG - EXIT_SHORT;
	pr_info("  CPUID loop: %lu instructions, %lu branches per %lu iterations (%lu VM-entries)\n",
		uc.args[2], uc.args[3], d, entries);
	/* Two runs of each length, one counting instructions, one branches. */
	TEST_ASSERT(entries >= 2 * (EXIT_LONG + EXIT_SHORT),
		    "%lu VM-entries over %d CPUID exits", entries,
		    2 * (EXIT_LONG + EXIT_SHORT));
	/*
	 * Each iteration: MOV, CPUID (which exits: KVM counts it when it
	 * skips it), DEC and JNZ, and the VMRUN back.
	 */
	check_count("CPUID loop instructions", uc.args[2], 5 * d,
		    entries - 2 * (EXIT_LONG + EXIT_SHORT));
	TEST_ASSERT_EQ(uc.args[3], d);

	vcpu_run(vcpu);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_DONE);
}

static void test_exact(void)
{
	static const u32 modes[][2] = {
		{ KVM_VCOUNTERS_MODE_AUTO, KVM_VCOUNTERS_MODE_RUN },
		{ KVM_VCOUNTERS_MODE_RUN, KVM_VCOUNTERS_MODE_RUN },
		{ KVM_VCOUNTERS_MODE_ENTRY, KVM_VCOUNTERS_MODE_ENTRY },
	};

	for (int i = 0; i < ARRAY_SIZE(modes); i++) {
		struct kvm_vcpu *vcpu;
		struct kvm_vm *vm = vcounters_pmu_vm_create(modes[i][0], guest_code, &vcpu);

		pr_info("PMU mode %u requested:\n", modes[i][0]);
		TEST_ASSERT_EQ(vcounters_state(vcpu).pmu_mode, modes[i][1]);
		check_exact(vcpu);
		kvm_vm_free(vm);
	}
}

static u64 run_count_once(struct kvm_vcpu *vcpu)
{
	struct ucall uc = vcounters_run_to_sync(vcpu);

	return uc.args[1];
}

static void test_kinds(void)
{
	struct kvm_vcpu *plain_vcpu, *opted_vcpu;
	struct kvm_vm *plain, *opted;
	u64 count;

	/* Alone, the VM that did not opt in counts with perf's help. */
	plain = vm_create_with_one_vcpu(&plain_vcpu, guest_count_once);
	TEST_ASSERT_EQ(vcounters_state(plain_vcpu).pmu_mode, 0);
	count = run_count_once(plain_vcpu);
	pr_info("  perf-based vPMU, alone: %lu instructions (loop %d)\n",
		count, 2 * LONG_LOOP);
	TEST_ASSERT(count >= 2 * LONG_LOOP && count < 2 * LONG_LOOP + 100,
		    "perf-based vPMU counted %lu", count);
	kvm_vm_free(plain);

	/* Next to a mediated VM: perf refuses the events that count guests. */
	opted = vcounters_pmu_vm_create(KVM_VCOUNTERS_MODE_AUTO, guest_code, &opted_vcpu);
	plain = vm_create_with_one_vcpu(&plain_vcpu, guest_count_once);
	count = run_count_once(plain_vcpu);
	pr_info("  perf-based vPMU, next to a mediated one: %lu instructions\n", count);
	/* Only the instructions KVM emulates for it (a WRMSR) count. */
	TEST_ASSERT(count < 10, "perf-based vPMU counted %lu next to a mediated one", count);
	/* Nothing of it is ever loaded into the hardware. */
	TEST_ASSERT_EQ(vcpu_get_stat(plain_vcpu, mediated_pmu_msr_accesses), 0);
	check_exact(opted_vcpu);
	kvm_vm_free(plain);
	kvm_vm_free(opted);
}

/* Counts the loop on counter 0 and reports the count and the selector. */
static void guest_filtered(void)
{
	u64 count = guest_count(AMD_ZEN_INSTRUCTIONS_RETIRED, vcounters_guest_loop, LONG_LOOP);

	wrmsr(MSR_F15H_PERF_CTL0, VCOUNTERS_EVSEL(AMD_ZEN_INSTRUCTIONS_RETIRED));
	GUEST_SYNC_ARGS(0, count, rdmsr(MSR_F15H_PERF_CTL0), 0, 0);
	GUEST_DONE();
}

static void test_filter(void)
{
	struct {
		struct kvm_pmu_event_filter f;
		u64 events[1];
	} deny = {
		.f = { .action = KVM_PMU_EVENT_DENY, .nevents = 1 },
		.events = { AMD_ZEN_INSTRUCTIONS_RETIRED },
	};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vcounters_pmu_vm_create(KVM_VCOUNTERS_MODE_AUTO, guest_filtered, &vcpu);
	struct ucall uc;

	vm_ioctl(vm, KVM_SET_PMU_EVENT_FILTER, &deny.f);
	uc = vcounters_run_to_sync(vcpu);
	pr_info("  denied event: counted %lu, selector reads %#lx\n", uc.args[2], uc.args[3]);
	TEST_ASSERT_EQ(uc.args[2], 0);
	TEST_ASSERT_EQ(uc.args[3], VCOUNTERS_EVSEL(AMD_ZEN_INSTRUCTIONS_RETIRED));
	kvm_vm_free(vm);
}

/* The counter starts this far below its 48-bit overflow. */
#define PMI_PERIOD	1000

static void guest_pmi(void)
{
	u64 status;

	x2apic_enable();
	x2apic_write_reg(APIC_LVTPC, VCOUNTERS_PMI_VECTOR);
	vcounters_guest_arm_pmi(AMD_ZEN_INSTRUCTIONS_RETIRED, PMI_PERIOD);
	sti();
	vcounters_guest_loop(LONG_LOOP);
	cli();
	wrmsr(MSR_F15H_PERF_CTL0, 0);
	status = rdmsr(MSR_AMD64_PERF_CNTR_GLOBAL_STATUS);
	GUEST_SYNC_ARGS(0, READ_ONCE(vcounters_guest_pmis), status, rdmsr(MSR_F15H_PERF_CTR0), 0);
	GUEST_DONE();
}

static void test_pmi(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vcounters_pmu_vm_create(KVM_VCOUNTERS_MODE_AUTO, guest_pmi, &vcpu);
	struct ucall uc;

	vm_install_exception_handler(vm, VCOUNTERS_PMI_VECTOR, vcounters_guest_pmi_handler);
	uc = vcounters_run_to_sync(vcpu);
	pr_info("  sampling counter: %lu PMIs, global status %#lx, counter %lu after wrapping\n",
		uc.args[2], uc.args[3], uc.args[4]);
	TEST_ASSERT_EQ(uc.args[2], 1);
	TEST_ASSERT_EQ(vcpu_get_stat(vcpu, pmi_injections), 1);
	TEST_ASSERT(uc.args[3] & BIT_ULL(0), "no overflow of counter 0 in %#lx", uc.args[3]);
	/* It wrapped and went on: the rest of the loop, give or take a VMRUN per entry. */
	TEST_ASSERT(uc.args[4] > 2 * LONG_LOOP - PMI_PERIOD - 100 && uc.args[4] < 2 * LONG_LOOP,
		    "counter %lu after wrapping", uc.args[4]);
	kvm_vm_free(vm);
}

/* CPUID exits of a guest that never touches its PMU, twice. */
static void guest_idle_pmu(void)
{
	vcounters_guest_cpuid_loop(EXIT_LONG);
	GUEST_SYNC(0);
	vcounters_guest_cpuid_loop(EXIT_LONG);
	GUEST_SYNC(1);
	GUEST_DONE();
}

/*
 * KVM's host accesses for one load and one put of an AMD PerfMonV2 guest
 * context with @nr counters (kvm_mediated_pmu_load/put, amd_mediated_pmu_
 * load/put). Always: PERF_GLOBAL_CTRL cleared, per counter an RDPMC and
 * the selector's write at load and an RDPMC at put, GLOBAL_STATUS read and
 * GLOBAL_STATUS_SET and GLOBAL_CTL written at load, GLOBAL_CTL cleared and
 * GLOBAL_STATUS read at put. Only when a value calls for it: per counter
 * its write at load (it differs from the hardware's) and its and the
 * selector's clearing at put, and a GLOBAL_STATUS_CLR at each.
 */
static u64 amd_switch_accesses_min(u64 nr)
{
	return 6 + 3 * nr;
}

static u64 amd_switch_accesses_max(u64 nr)
{
	return amd_switch_accesses_min(nr) + 3 * nr + 2;
}

/* Runs @vcpu to its next sync; the accesses and load/put pairs it took. */
static struct ucall run_costing(struct kvm_vcpu *vcpu, u64 *accesses, u64 *pairs)
{
	u64 a = vcpu_get_stat(vcpu, mediated_pmu_msr_accesses);
	u64 switches = pmu_switches(vcpu);
	struct ucall uc = vcounters_run_to_sync(vcpu);

	*accesses = vcpu_get_stat(vcpu, mediated_pmu_msr_accesses) - a;
	*pairs = (pmu_switches(vcpu) - switches) / 2;
	return uc;
}

static void test_cost(void)
{
	u64 nr = kvm_cpu_property(X86_PROPERTY_NR_PERFCTR_CORE);
	struct kvm_vcpu *vcpu;
	u64 accesses, pairs;
	struct kvm_vm *vm;
	cpu_set_t cpus;

	/*
	 * A load rewrites a counter that the hardware holds some other value
	 * in, e.g. what a host event left in it: one CPU, and a first run,
	 * whose puts clear them, before the one that is measured.
	 */
	TEST_ASSERT(!sched_getaffinity(0, sizeof(cpus), &cpus), "sched_getaffinity");
	pin_self_to_cpu(0);
	vm = vcounters_pmu_vm_create(KVM_VCOUNTERS_MODE_ENTRY, guest_idle_pmu, &vcpu);
	vcounters_run_to_sync(vcpu);
	run_costing(vcpu, &accesses, &pairs);
	pr_info("  idle PMU, %lu counters: %lu accesses over %lu loads and puts\n",
		nr, accesses, pairs);
	TEST_ASSERT(pairs >= EXIT_LONG, "%lu loads over %d CPUID exits", pairs, EXIT_LONG);
	TEST_ASSERT_EQ(accesses, pairs * amd_switch_accesses_min(nr));
	kvm_vm_free(vm);

	vm = vcounters_pmu_vm_create(KVM_VCOUNTERS_MODE_ENTRY, guest_code, &vcpu);
	for (int i = 0; i < 2; i++) {
		run_costing(vcpu, &accesses, &pairs);
		pr_info("  counting PMU: %lu accesses over %lu loads and puts\n",
			accesses, pairs);
		TEST_ASSERT(accesses >= pairs * amd_switch_accesses_min(nr) &&
			    accesses <= pairs * amd_switch_accesses_max(nr),
			    "%lu accesses over %lu loads and puts, %lu counters",
			    accesses, pairs, nr);
	}
	kvm_vm_free(vm);
	TEST_ASSERT(!sched_setaffinity(0, sizeof(cpus), &cpus), "sched_setaffinity");
}

#define BIG_LOOP	1000000

/* A warm-up, then a loop of BIG_LOOP iterations and one of twice that. */
static void guest_big_loops(void)
{
	vcounters_guest_loop(SHORT_LOOP);
	GUEST_SYNC(0);
	vcounters_guest_loop(BIG_LOOP);
	GUEST_SYNC(1);
	vcounters_guest_loop(2 * BIG_LOOP);
	GUEST_SYNC(2);
	GUEST_DONE();
}

/* What @fd counted over one KVM_RUN of @vcpu. */
static u64 host_count_over_run(int fd, struct kvm_vcpu *vcpu)
{
	TEST_ASSERT(!ioctl(fd, PERF_EVENT_IOC_RESET, 0), "reset: errno %d", errno);
	run_count_once(vcpu);
	return vcounters_host_read(fd).count;
}

/*
 * The host's exclude_guest event on the vCPU thread counts KVM_RUN's own
 * path (with a debug kernel under TCG, millions of instructions) but none
 * of the guest's: one more million iterations of the guest's loop (two
 * million instructions) add only the host code of the VM-exits the longer
 * run takes (timer interrupts: about 100000 instructions under TCG, where
 * the PMU is switched at each of them while the event exists), far from
 * the two million a leak would add.
 */
static void test_host_perf(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vcounters_pmu_vm_create(KVM_VCOUNTERS_MODE_AUTO, guest_big_loops, &vcpu);
	u64 one, two;
	int fd;

	/* A mediated VM exists once its first vCPU does. */
	fd = vcounters_host_event_on(PERF_COUNT_HW_INSTRUCTIONS, false, 0, -1);
	TEST_ASSERT(fd < 0 && errno == EOPNOTSUPP,
		    "an event counting guests next to a mediated VM: fd %d errno %d", fd, errno);
	fd = vcounters_host_event_on(PERF_COUNT_HW_INSTRUCTIONS, true, 0, -1);
	TEST_ASSERT(fd >= 0, "an exclude_guest event: errno %d", errno);
	run_count_once(vcpu);
	one = host_count_over_run(fd, vcpu);
	two = host_count_over_run(fd, vcpu);
	pr_info("  host exclude_guest event on the vCPU thread: %lu instructions over a guest loop of %d, %lu over one of %d\n",
		one, 2 * BIG_LOOP, two, 4 * BIG_LOOP);
	TEST_ASSERT(one > 0 && two < one + BIG_LOOP / 4,
		    "the guest's 2 million more instructions added %ld to the host's count",
		    (long)(two - one));
	close(fd);
	kvm_vm_free(vm);
}

static void test_busy(void)
{
	struct kvm_vm *vm = vm_create(1);
	struct kvm_vcpu *vcpu;
	int fd, r;

	TEST_ASSERT(!__vcounters_enable_pmu(vm, KVM_VCOUNTERS_MODE_AUTO),
		    "KVM_VCOUNTERS_PMU: errno %d", errno);
	fd = vcounters_host_event_on(PERF_COUNT_HW_INSTRUCTIONS, false, 0, -1);
	TEST_ASSERT(fd >= 0, "an event counting guests, no mediated VM: errno %d", errno);
	r = __vm_ioctl(vm, KVM_CREATE_VCPU, (void *)0);
	TEST_ASSERT(r < 0 && errno == EBUSY,
		    "first vCPU next to a host event counting guests: %d errno %d", r, errno);
	close(fd);
	vcpu = vm_vcpu_add(vm, 0, guest_count_once);
	TEST_ASSERT_EQ(vcounters_state(vcpu).pmu_mode, KVM_VCOUNTERS_MODE_RUN);
	kvm_vm_free(vm);
}

/* Every PMU MSR of the model: 6 selectors and counters, global ones. */
static u32 pmu_msr(u32 i)
{
	static const u32 global[] = {
		MSR_AMD64_PERF_CNTR_GLOBAL_CTL, MSR_AMD64_PERF_CNTR_GLOBAL_STATUS,
		MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR, MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET,
		MSR_K7_EVNTSEL0, MSR_K7_PERFCTR0,
	};

	return i < 12 ? MSR_F15H_PERF_CTL + i : global[(i - 12) % ARRAY_SIZE(global)];
}

#define NR_PMU_MSRS	18
#define FUZZ_ROUNDS	300

static void guest_fuzz(u64 seed)
{
	struct kvm_random_state rng = new_kvm_random_state(seed);

	for (int i = 0; i < FUZZ_ROUNDS; i++) {
		u64 v = kvm_random_u32(&rng) | (u64)kvm_random_u32(&rng) << 33;

		wrmsr_safe(pmu_msr(kvm_random_u32(&rng) % NR_PMU_MSRS), v);
	}
	/* Sane again: everything enabled globally, then the loop. */
	wrmsr(MSR_AMD64_PERF_CNTR_GLOBAL_CTL, GENMASK_ULL(5, 0));
	guest_code();
}

static void test_fuzz(void)
{
	struct kvm_random_state rng = vcounters_rng(NULL);
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vcounters_pmu_vm_create(KVM_VCOUNTERS_MODE_AUTO, guest_fuzz, &vcpu);
	int accepted = 0;

	for (int i = 0; i < FUZZ_ROUNDS; i++) {
		u32 msr = pmu_msr(kvm_random_u32(&rng) % NR_PMU_MSRS);

		accepted += _vcpu_set_msr(vcpu, msr, vcounters_random_u64(&rng)) == 1;
	}
	pr_info("  KVM_SET_MSRS: %d of %d random writes accepted\n", accepted, FUZZ_ROUNDS);
	vcpu_set_msr(vcpu, MSR_AMD64_PERF_CNTR_GLOBAL_CTL, GENMASK_ULL(5, 0));
	vcpu_args_set(vcpu, 1, kvm_random_u32(&rng));
	check_exact(vcpu);
	kvm_vm_free(vm);
}

/* The guest has 2 of the host's counters: the third faults. */
#define GIVEN_COUNTERS	2

static void guest_fewer(void)
{
	u64 val;

	GUEST_ASSERT_EQ(rdmsr_safe(MSR_F15H_PERF_CTR + 2 * (GIVEN_COUNTERS - 1), &val), 0);
	GUEST_ASSERT_EQ(rdpmc_safe(GIVEN_COUNTERS - 1, &val), 0);
	GUEST_ASSERT_EQ(rdmsr_safe(MSR_F15H_PERF_CTR + 2 * GIVEN_COUNTERS, &val), GP_VECTOR);
	GUEST_ASSERT_EQ(wrmsr_safe(MSR_F15H_PERF_CTR + 2 * GIVEN_COUNTERS, 1), GP_VECTOR);
	GUEST_ASSERT_EQ(rdmsr_safe(MSR_F15H_PERF_CTL + 2 * GIVEN_COUNTERS, &val), GP_VECTOR);
	GUEST_ASSERT_EQ(rdpmc_safe(GIVEN_COUNTERS, &val), GP_VECTOR);
	GUEST_DONE();
}

static void test_fewer(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vcounters_pmu_vm_create(KVM_VCOUNTERS_MODE_AUTO, guest_fewer, &vcpu);
	struct ucall uc;

	TEST_REQUIRE(kvm_cpu_property(X86_PROPERTY_NR_PERFCTR_CORE) > GIVEN_COUNTERS);
	vcpu_set_cpuid_property(vcpu, X86_PROPERTY_NR_PERFCTR_CORE, GIVEN_COUNTERS);
	vcpu_run(vcpu);
	if (get_ucall(vcpu, &uc) == UCALL_ABORT)
		REPORT_GUEST_ASSERT(uc);
	TEST_ASSERT_EQ(uc.cmd, UCALL_DONE);
	TEST_ASSERT_EQ(vcounters_state(vcpu).pmu_mode, KVM_VCOUNTERS_MODE_RUN);
	kvm_vm_free(vm);
}

/* Counts the loop on counter 0 without stopping it, twice. */
static void guest_count_on(void)
{
	wrmsr(MSR_F15H_PERF_CTL0, 0);
	wrmsr(MSR_F15H_PERF_CTR0, 0);
	wrmsr(MSR_F15H_PERF_CTL0, VCOUNTERS_EVSEL(AMD_ZEN_BRANCHES_RETIRED));
	vcounters_guest_loop(LONG_LOOP);
	GUEST_SYNC(guest_rdpmc(0));
	vcounters_guest_loop(LONG_LOOP);
	GUEST_SYNC(guest_rdpmc(0));
	GUEST_DONE();
}

/*
 * Branches are exact (a VMRUN is no branch): across a save and restore
 * into a new VM, the count goes on as in a VM that was never moved.
 */
static void test_migrate(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_x86_state *state;
	struct kvm_vm *vm;
	u64 before, after, stay;

	vm = vcounters_pmu_vm_create(KVM_VCOUNTERS_MODE_AUTO, guest_count_on, &vcpu);
	before = run_count_once(vcpu);
	stay = run_count_once(vcpu) - before;
	kvm_vm_free(vm);

	vm = vcounters_pmu_vm_create(KVM_VCOUNTERS_MODE_AUTO, guest_count_on, &vcpu);
	TEST_ASSERT_EQ(run_count_once(vcpu), before);
	/* Every MSR KVM saves, the PMU's among them. */
	state = vcpu_save_state(vcpu);
	kvm_vm_release(vm);

	/* The same memory in a new VM that opted in. */
	kvm_vm_restart(vm);
	TEST_ASSERT(!__vcounters_enable_pmu(vm, KVM_VCOUNTERS_MODE_AUTO),
		    "KVM_VCOUNTERS_PMU on the new VM: errno %d", errno);
	vcpu = vm_vcpu_recreate(vm, 0);
	vcpu_load_state(vcpu, state);
	kvm_x86_state_cleanup(state);
	after = run_count_once(vcpu);
	pr_info("  branches: %lu, then +%lu in place, +%lu across a save and restore\n",
		before, stay, after - before);
	TEST_ASSERT(stay >= LONG_LOOP && stay < LONG_LOOP + 200,
		    "%lu branches over a loop of %d", stay, LONG_LOOP);
	/*
	 * The restore adds 2 branches here, deterministically, that staying
	 * does not; a lost or reset count would be thousands off.
	 */
	TEST_ASSERT(after - before >= stay && after - before <= stay + 10,
		    "+%lu branches across a save and restore, +%lu in place",
		    after - before, stay);
	kvm_vm_free(vm);
}

int main(int argc, char *argv[])
{
	TEST_REQUIRE(host_cpu_is_amd);
	TEST_REQUIRE(kvm_is_mediated_pmu_enabled());
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS));

	test_cap();
	test_exact();
	test_kinds();
	test_filter();
	test_pmi();
	test_cost();
	test_host_perf();
	test_busy();
	test_fuzz();
	test_fewer();
	test_migrate();
	return 0;
}
