// SPDX-License-Identifier: GPL-2.0-only
/*
 * The PMU at KVM_RUN boundaries (KVM_VCOUNTERS_MODE_RUN): KVM keeps the
 * guest's mediated PMU loaded across the VM-exits it handles, and host
 * perf takes the PMU back the moment it needs it. On the test machine's
 * AMD PerfMonV2 model, kvm_amd loaded with enable_mediated_pmu=1:
 *
 *   boundary    a RUN vCPU counts exactly the branches of a loop of
 *               thousands of CPUID exits, all handled in KVM (host code
 *               between them would count thousands more), while KVM loads
 *               its PMU a few times only and accesses no host PMU
 *               register at those exits; its instructions are exact too
 *               (KVM puts the PMU to count each CPUID it emulates)
 *   cpu_event   while the vCPU spins on CPU 1, a host event with
 *               exclude_guest on CPU 1 counts from the moment
 *               perf_event_open() returns: its enabled and running times
 *               are equal then and after a millisecond, in which it has
 *               counted; the guest's counts stay exact across the forced
 *               put; while the event exists the vCPU is put at its
 *               VM-exits, and once it is closed no longer
 *   task_event  the same with an event on the vCPU's thread
 *   migrate     two VMs, one in RUN and one in ENTRY, their vCPUs moved
 *               between the two CPUs while a host event on each CPU comes
 *               and goes: every round of each guest exact, every host
 *               event, disabled before it is closed, with its running
 *               time equal to its enabled time
 *   lvtpc       the guest masks its LVTPC by software-disabling its APIC,
 *               an exit KVM handles without touching the PMU otherwise:
 *               a counter that then overflows interrupts neither the
 *               guest nor the host (no mediated PMI in /proc/interrupts),
 *               where the same overflow with the APIC enabled does both;
 *               a PMI handler that writes LVTPC again unmasked, as
 *               Linux's does, costs no put of the PMU
 *   default     with kvm_vcounters.default_features giving every VM the
 *               PMU, a VM that did not ask is in RUN
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "kvm_util.h"
#include "pmu.h"
#include "processor.h"
#include "ucall_common.h"
#include "vcounters.h"

/* CPUID iterations of one guest round: each exits to KVM. */
#define ROUND		2000

/* @event on counter 0 over @n iterations of the CPUID loop. */
static u64 guest_count(u64 event, unsigned long n)
{
	wrmsr(MSR_F15H_PERF_CTL0, 0);
	wrmsr(MSR_F15H_PERF_CTR0, 0);
	wrmsr(MSR_F15H_PERF_CTL0, VCOUNTERS_EVSEL(event));
	vcounters_guest_cpuid_loop(n);
	wrmsr(MSR_F15H_PERF_CTL0, 0);
	return rdmsr(MSR_F15H_PERF_CTR0);
}

/* Branches over 3 * ROUND iterations minus over ROUND, then instructions. */
static void guest_boundary(void)
{
	u64 b, i;

	b = guest_count(AMD_ZEN_BRANCHES_RETIRED, 3 * ROUND);
	b -= guest_count(AMD_ZEN_BRANCHES_RETIRED, ROUND);
	GUEST_SYNC(b);
	i = guest_count(AMD_ZEN_INSTRUCTIONS_RETIRED, 3 * ROUND);
	i -= guest_count(AMD_ZEN_INSTRUCTIONS_RETIRED, ROUND);
	GUEST_SYNC(i);
	GUEST_DONE();
}

/* Rounds forever: the branches of each, reported. */
static void guest_rounds(void)
{
	for (;;)
		GUEST_SYNC(guest_count(AMD_ZEN_BRANCHES_RETIRED, ROUND));
}

/* The module's PMU figures of a vCPU, and KVM's of it. */
struct pmu_figures {
	u64 exits, accesses, loads, puts_exit, puts_preempt, puts_sync;
};

static struct pmu_figures pmu_figures(struct kvm_vcpu *vcpu)
{
	return (struct pmu_figures) {
		.exits = vcpu_get_stat(vcpu, exits),
		.accesses = vcpu_get_stat(vcpu, mediated_pmu_msr_accesses),
		.loads = vcpu_get_stat(vcpu, vcounters_pmu_lazy_loads),
		.puts_exit = vcpu_get_stat(vcpu, vcounters_pmu_puts_exit),
		.puts_preempt = vcpu_get_stat(vcpu, vcounters_pmu_puts_preempt),
		.puts_sync = vcpu_get_stat(vcpu, vcounters_pmu_puts_sync),
	};
}

/* Runs @vcpu to its next sync: the sync, and how the figures changed. */
static struct ucall run_figures(struct kvm_vcpu *vcpu, struct pmu_figures *d)
{
	struct pmu_figures f0 = pmu_figures(vcpu), f1;
	struct ucall uc = vcounters_run_to_sync(vcpu);

	f1 = pmu_figures(vcpu);
	*d = (struct pmu_figures) {
		.exits = f1.exits - f0.exits,
		.accesses = f1.accesses - f0.accesses,
		.loads = f1.loads - f0.loads,
		.puts_exit = f1.puts_exit - f0.puts_exit,
		.puts_preempt = f1.puts_preempt - f0.puts_preempt,
		.puts_sync = f1.puts_sync - f0.puts_sync,
	};
	return uc;
}

static void test_boundary(void)
{
	struct pmu_figures f;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	u64 d = 2 * ROUND;

	vm = vcounters_pmu_vm_create(KVM_VCOUNTERS_MODE_RUN, guest_boundary, &vcpu);
	TEST_ASSERT_EQ(vcounters_state(vcpu).pmu_mode, KVM_VCOUNTERS_MODE_RUN);

	uc = run_figures(vcpu, &f);
	pr_info("boundary: %lu branches over %lu iterations; %lu VM-exits, %lu loads, %lu host PMU accesses\n",
		uc.args[1], d, f.exits, f.loads, f.accesses);
	TEST_ASSERT_EQ(uc.args[1], d);
	TEST_ASSERT(f.exits >= 4 * ROUND, "%lu VM-exits over %d CPUIDs", f.exits, 4 * ROUND);
	/*
	 * Loads: at the first entry and after each of the guest's 10
	 * intercepted WRMSRs (each puts the PMU to change its state); then
	 * the put at the end of the run. Not one per exit.
	 */
	TEST_ASSERT(f.loads <= 16, "%lu loads over %lu VM-exits", f.loads, f.exits);
	TEST_ASSERT(f.accesses <= 17 * 30, "%lu host PMU accesses over %lu VM-exits",
		    f.accesses, f.exits);

	/*
	 * Counting instructions, KVM adds each CPUID it emulates to the
	 * count, after putting the PMU: a load per exit, so each VMRUN back
	 * counts as a guest instruction (AMD's, and the model's, rule).
	 */
	uc = run_figures(vcpu, &f);
	pr_info("boundary: %lu instructions over %lu iterations; %lu VM-exits, %lu loads, %lu puts to sync\n",
		uc.args[1], d, f.exits, f.loads, f.puts_sync);
	TEST_ASSERT(uc.args[1] >= 5 * d && uc.args[1] <= 5 * d + f.exits - 4 * ROUND,
		    "%lu instructions, want %lu plus the VMRUNs of non-CPUID exits",
		    uc.args[1], 5 * d);
	TEST_ASSERT(f.puts_sync >= 4 * ROUND, "%lu puts to count %d emulated CPUIDs",
		    f.puts_sync, 4 * ROUND);
	kvm_vm_free(vm);
}

/* Iterations of vcounters_guest_loop() after an arm, well past the overflow. */
#define PMI_PERIOD	1000
#define PMI_LOOP	(10 * PMI_PERIOD)

/*
 * An overflow with the APIC enabled (the PMI taken), then one with the APIC
 * software-disabled after the counter was armed, so that the only exit in
 * between is the SPIV write; each followed by its PMIs and global status.
 * Branches, not instructions: KVM puts the PMU to count the WRMSR it
 * emulates as an instruction, which would hide a put the SPIV write lacks.
 */
static void guest_lvtpc(void)
{
	x2apic_enable();
	x2apic_write_reg(APIC_LVTPC, VCOUNTERS_PMI_VECTOR);
	sti();

	vcounters_guest_arm_pmi(AMD_ZEN_BRANCHES_RETIRED, PMI_PERIOD);
	vcounters_guest_loop(PMI_LOOP);
	wrmsr(MSR_F15H_PERF_CTL0, 0);
	GUEST_SYNC_ARGS(0, READ_ONCE(vcounters_guest_pmis),
			rdmsr(MSR_AMD64_PERF_CNTR_GLOBAL_STATUS), 0, 0);
	wrmsr(MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR, BIT_ULL(0));

	vcounters_guest_arm_pmi(AMD_ZEN_BRANCHES_RETIRED, PMI_PERIOD);
	/* Masks every LVT, LVTPC too. */
	x2apic_write_reg(APIC_SPIV, APIC_SPIV_FOCUS_DISABLED | 0xff);
	vcounters_guest_loop(PMI_LOOP);
	wrmsr(MSR_F15H_PERF_CTL0, 0);
	GUEST_SYNC_ARGS(1, READ_ONCE(vcounters_guest_pmis),
			rdmsr(MSR_AMD64_PERF_CNTR_GLOBAL_STATUS),
			x2apic_read_reg(APIC_LVTPC), 0);
	GUEST_DONE();
}

/* The mediated PMIs the host took, all CPUs ("VPMI" in /proc/interrupts). */
static u64 host_vpmis(void)
{
	FILE *f = fopen("/proc/interrupts", "r");
	char line[1024];

	TEST_ASSERT(f, "/proc/interrupts: errno %d", errno);
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " "), *end;
		u64 sum = 0;

		if (strncmp(p, "VPMI:", 5))
			continue;
		for (p += 5;; p = end) {
			u64 n = strtoull(p, &end, 10);

			if (end == p)
				break;
			sum += n;
		}
		fclose(f);
		return sum;
	}
	fclose(f);
	TEST_FAIL("no VPMI line in /proc/interrupts");
	return 0;
}

/* Linux's PMI handler writes LVTPC again, unmasked, at each PMI. */
static void guest_pmi_rewrite_handler(struct ex_regs *regs)
{
	x2apic_write_reg(APIC_LVTPC, VCOUNTERS_PMI_VECTOR);
	vcounters_guest_pmi_handler(regs);
}

/* A RUN VM in guest_lvtpc() with @handler for its PMIs. */
static struct kvm_vm *lvtpc_vm_create(void (*handler)(struct ex_regs *),
				      struct kvm_vcpu **vcpu)
{
	struct kvm_vm *vm;

	vm = vcounters_pmu_vm_create(KVM_VCOUNTERS_MODE_RUN, guest_lvtpc, vcpu);
	vm_install_exception_handler(vm, VCOUNTERS_PMI_VECTOR, handler);
	return vm;
}

static void test_lvtpc(void)
{
	struct kvm_vcpu *vcpu, *plain_vcpu;
	struct kvm_vm *vm, *plain_vm;
	struct pmu_figures f, plain;
	struct ucall uc;
	u64 vpmis;

	/*
	 * The same overflow in two VMs, one whose PMI handler leaves LVTPC
	 * alone and one whose handler writes it again with the mask bit
	 * loaded in the hardware: that write costs no put.
	 */
	plain_vm = lvtpc_vm_create(vcounters_guest_pmi_handler, &plain_vcpu);
	run_figures(plain_vcpu, &plain);
	kvm_vm_free(plain_vm);

	vm = lvtpc_vm_create(guest_pmi_rewrite_handler, &vcpu);
	vpmis = host_vpmis();
	uc = run_figures(vcpu, &f);
	vpmis = host_vpmis() - vpmis;
	pr_info("lvtpc: APIC enabled: %lu PMIs taken, status %#lx, %lu mediated PMIs on the host; puts to sync %lu, %lu with a handler that leaves LVTPC alone\n",
		uc.args[2], uc.args[3], vpmis, f.puts_sync, plain.puts_sync);
	TEST_ASSERT_EQ(uc.args[2], 1);
	TEST_ASSERT(uc.args[3] & BIT_ULL(0), "no overflow of counter 0 in %#lx", uc.args[3]);
	TEST_ASSERT(vpmis >= 1, "the overflow did not reach the host as a mediated PMI");
	TEST_ASSERT_EQ(f.puts_sync, plain.puts_sync);

	vpmis = host_vpmis();
	uc = vcounters_run_to_sync(vcpu);
	vpmis = host_vpmis() - vpmis;
	pr_info("lvtpc: APIC disabled: %lu PMIs taken, status %#lx, LVTPC %#lx, %lu mediated PMIs on the host\n",
		uc.args[2], uc.args[3], uc.args[4], vpmis);
	TEST_ASSERT(uc.args[4] & APIC_LVT_MASKED, "LVTPC %#lx not masked", uc.args[4]);
	TEST_ASSERT(uc.args[3] & BIT_ULL(0), "no overflow of counter 0 in %#lx", uc.args[3]);
	TEST_ASSERT_EQ(uc.args[2], 1);
	TEST_ASSERT(!vpmis, "%lu mediated PMIs on the host from a masked LVTPC", vpmis);
	kvm_vm_free(vm);
}

/*
 * A vCPU thread running guest_rounds(), started on one CPU; other threads
 * may move it (sched_setaffinity() of its tid), inside KVM_RUN too.
 */
struct runner {
	struct kvm_vcpu *vcpu;
	pthread_t thread;
	_Atomic pid_t tid;
	int cpu;		/* where it starts */
	_Atomic bool stop;
	_Atomic u64 rounds;
	_Atomic u64 round_start_ns;
	u64 round_ns;		/* the first round's duration */
	u64 branches;		/* of the first round, each must equal */
};

static void pin_tid(pid_t tid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	TEST_ASSERT(!sched_setaffinity(tid, sizeof(set), &set),
		    "sched_setaffinity of %d to CPU %d: errno %d", tid, cpu, errno);
}

static u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void *runner_thread(void *arg)
{
	struct runner *r = arg;

	r->tid = gettid();
	pin_tid(0, r->cpu);
	while (!r->stop) {
		struct ucall uc;

		r->round_start_ns = now_ns();
		uc = vcounters_run_to_sync(r->vcpu);
		if (!r->rounds) {
			r->round_ns = now_ns() - r->round_start_ns;
			r->branches = uc.args[1];
			TEST_ASSERT(r->branches >= ROUND && r->branches <= ROUND + 4,
				    "first round: %lu branches over %d iterations",
				    r->branches, ROUND);
		}
		TEST_ASSERT(uc.args[1] == r->branches,
			    "round %lu: %lu branches, %lu in the first",
			    (u64)r->rounds, uc.args[1], r->branches);
		r->rounds++;
	}
	return NULL;
}

static void runner_start(struct runner *r, struct kvm_vcpu *vcpu, int cpu)
{
	*r = (struct runner) { .vcpu = vcpu, .cpu = cpu };
	/* The stats fd is opened here, not in two threads at once. */
	pmu_figures(vcpu);
	pthread_create(&r->thread, NULL, runner_thread, r);
	while (r->rounds < 1)
		usleep(1000);
}

static void runner_stop(struct runner *r)
{
	r->stop = true;
	pthread_join(r->thread, NULL);
}

/*
 * A read of an event active on another CPU: perf brings its times up to
 * date there, then copies enabled and running without a lock, so a load
 * or put of a guest context on that CPU between the two copies shows them
 * apart by what it added (seen both ways, by up to 3 ms, while that CPU
 * switches at every VM-exit). Up to five reads, the first whose two times
 * agree: an event that missed host time never gets there.
 */
static struct vcounters_host_count host_read(int fd)
{
	struct vcounters_host_count c;

	for (int i = 0; i < 5; i++) {
		c = vcounters_host_read(fd);
		if (c.enabled_ns == c.running_ns)
			break;
	}
	return c;
}

/* Disables the event, then reads it: times no CPU updates any more. */
static struct vcounters_host_count host_read_disabled(int fd)
{
	TEST_ASSERT(!ioctl(fd, PERF_EVENT_IOC_DISABLE, 0), "disable: errno %d", errno);
	return vcounters_host_read(fd);
}

/* Waits, up to 10 s, for the next round of @r to have begun. */
static void wait_for_round(struct runner *r)
{
	u64 start = r->rounds, t0 = now_ns();

	while (r->rounds == start && now_ns() - t0 < 10000000000ull)
		usleep(200);
	TEST_ASSERT(r->rounds > start, "no round in 10 s");
}

/*
 * A host event with exclude_guest for task @pid on @cpu, opened while
 * @r's vCPU runs (its PMU loaded across exits): it counts at once.
 */
static void check_preempted(struct runner *r, const char *what, pid_t pid, int cpu)
{
	struct vcounters_host_count c0, c1;
	struct pmu_figures f0, f1, f2, f3;
	u64 t0;
	int fd;

	wait_for_round(r);
	/*
	 * Mid-round, in the CPUID loop: the PMU is loaded across its exits,
	 * and nothing but the host event will put it.
	 */
	while (now_ns() - r->round_start_ns < r->round_ns / 2)
		usleep(100);
	f0 = pmu_figures(r->vcpu);
	fd = vcounters_host_event_on(PERF_COUNT_HW_INSTRUCTIONS, true, pid, cpu);
	TEST_ASSERT(fd >= 0, "%s: perf_event_open: errno %d", what, errno);
	c0 = host_read(fd);
	t0 = now_ns();
	while (now_ns() - t0 < 1000000)
		;
	c1 = host_read(fd);
	f1 = pmu_figures(r->vcpu);
	pr_info("%s: at open %lu counted, %lu ns enabled, %lu running; after 1 ms %lu, %lu, %lu; forced puts %lu\n",
		what, c0.count, c0.enabled_ns, c0.running_ns, c1.count,
		c1.enabled_ns, c1.running_ns, f1.puts_preempt - f0.puts_preempt);
	TEST_ASSERT_EQ(c0.enabled_ns, c0.running_ns);
	TEST_ASSERT_EQ(c1.enabled_ns, c1.running_ns);
	TEST_ASSERT(c1.count > 0, "%s: nothing counted in 1 ms", what);
	TEST_ASSERT(f1.puts_preempt > f0.puts_preempt,
		    "%s: the vCPU's PMU was not put for the host event", what);

	/* While the event exists, the vCPU is switched at its VM-exits. */
	wait_for_round(r);
	f1 = pmu_figures(r->vcpu);
	wait_for_round(r);
	f2 = pmu_figures(r->vcpu);
	TEST_ASSERT(f2.puts_exit - f1.puts_exit >= ROUND,
		    "%s: %lu puts at VM-exits over a round of %d exits, host event open",
		    what, f2.puts_exit - f1.puts_exit, ROUND);
	c1 = host_read_disabled(fd);
	TEST_ASSERT_EQ(c1.enabled_ns, c1.running_ns);
	close(fd);

	/* Closed: back to RUN boundaries, within an exit or two. */
	wait_for_round(r);
	f2 = pmu_figures(r->vcpu);
	wait_for_round(r);
	f3 = pmu_figures(r->vcpu);
	pr_info("%s: puts at VM-exits over a round: %lu with the event, %lu after it\n",
		what, f2.puts_exit - f1.puts_exit, f3.puts_exit - f2.puts_exit);
	TEST_ASSERT(f3.puts_exit - f2.puts_exit <= 2,
		    "%s: %lu puts at VM-exits over a round after the event closed",
		    what, f3.puts_exit - f2.puts_exit);
}

static void test_host_event(bool task_bound)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct runner r;

	pin_tid(0, 0);
	vm = vcounters_pmu_vm_create(KVM_VCOUNTERS_MODE_RUN, guest_rounds, &vcpu);
	runner_start(&r, vcpu, 1);
	if (task_bound)
		check_preempted(&r, "task_event", r.tid, -1);
	else
		check_preempted(&r, "cpu_event", -1, 1);
	runner_stop(&r);
	pr_info("  %lu rounds of %lu branches each, the first in %lu us\n",
		(u64)r.rounds, r.branches, r.round_ns / 1000);
	kvm_vm_free(vm);
}

/* The host event @fd on @cpu counted all its life, then is closed. */
static void check_host_event(int fd, int cpu)
{
	struct vcounters_host_count c = host_read_disabled(fd);

	TEST_ASSERT(c.count > 0 && c.enabled_ns == c.running_ns,
		    "host event on CPU %d: %lu counted, %lu ns enabled, %lu running",
		    cpu, c.count, c.enabled_ns, c.running_ns);
	close(fd);
}

static void test_migrate(void)
{
	u32 modes[2] = { KVM_VCOUNTERS_MODE_RUN, KVM_VCOUNTERS_MODE_ENTRY };
	struct kvm_vcpu *vcpus[2];
	struct kvm_vm *vms[2];
	struct runner r[2];
	u64 events = 0, t0;
	int fds[2] = { -1, -1 };
	int i, step;

	pin_tid(0, 0);
	for (i = 0; i < 2; i++) {
		vms[i] = vcounters_pmu_vm_create(modes[i], guest_rounds, &vcpus[i]);
		TEST_ASSERT_EQ(vcounters_state(vcpus[i]).pmu_mode, modes[i]);
		runner_start(&r[i], vcpus[i], i);
	}

	t0 = now_ns();
	for (step = 0; now_ns() - t0 < 3000000000ull || step < 40 ||
		       r[0].rounds < 4 || r[1].rounds < 4; step++) {
		TEST_ASSERT(now_ns() - t0 < 120000000000ull,
			    "rounds after 120 s: %lu and %lu",
			    (u64)r[0].rounds, (u64)r[1].rounds);
		/* Swap the two vCPUs' CPUs, wherever they are. */
		for (i = 0; i < 2; i++)
			pin_tid(r[i].tid, (step + i + 1) % 2);
		/* A host event on CPU step % 2 comes, or goes. */
		i = step % 2;
		if (fds[i] < 0) {
			fds[i] = vcounters_host_event_on(PERF_COUNT_HW_INSTRUCTIONS,
							 true, -1, i);
			TEST_ASSERT(fds[i] >= 0, "perf_event_open on CPU %d: errno %d",
				    i, errno);
		} else {
			check_host_event(fds[i], i);
			fds[i] = -1;
			events++;
		}
		usleep(20000);
	}
	for (i = 0; i < 2; i++) {
		if (fds[i] >= 0) {
			check_host_event(fds[i], i);
			events++;
		}
		runner_stop(&r[i]);
	}
	pr_info("migrate: %d steps, %lu host events each counting all their life; RUN %lu rounds, ENTRY %lu rounds, each exact\n",
		step, events, (u64)r[0].rounds, (u64)r[1].rounds);
	for (i = 0; i < 2; i++)
		kvm_vm_free(vms[i]);
}

/*
 * kvm_vcounters.default_features as the kernel command line gives it (the
 * module's parameters are not in sysfs), 0 without.
 */
static u64 default_features(void)
{
	const char *key = "kvm_vcounters.default_features=";
	char cmdline[4096] = "", *p;
	FILE *f = fopen("/proc/cmdline", "r");

	TEST_ASSERT(f, "/proc/cmdline: errno %d", errno);
	TEST_ASSERT(fgets(cmdline, sizeof(cmdline), f), "/proc/cmdline unreadable");
	fclose(f);
	p = strstr(cmdline, key);
	return p ? strtoull(p + strlen(key), NULL, 0) : 0;
}

static void test_default(u64 features)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;

	if (!(features & KVM_VCOUNTERS_PMU)) {
		pr_info("default: skipped, the module gives no VM the PMU by default\n");
		return;
	}
	vm = vm_create_with_one_vcpu(&vcpu, guest_rounds);
	pr_info("default: pmu_mode %u\n", vcounters_state(vcpu).pmu_mode);
	TEST_ASSERT_EQ(vcounters_state(vcpu).pmu_mode, KVM_VCOUNTERS_MODE_RUN);
	kvm_vm_free(vm);
}

int main(int argc, char *argv[])
{
	u64 features;

	TEST_REQUIRE(host_cpu_is_amd);
	TEST_REQUIRE(kvm_is_mediated_pmu_enabled());
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_PMU);

	features = default_features();
	test_default(features);
	if (features & KVM_VCOUNTERS_PMU)
		return 0;
	TEST_REQUIRE(get_nprocs() >= 2);

	test_boundary();
	test_host_event(false);
	test_host_event(true);
	test_migrate();
	test_lvtpc();
	return 0;
}
