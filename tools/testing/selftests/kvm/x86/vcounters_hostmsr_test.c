// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host readers and writers of APERF/MPERF while a guest's values are in the
 * MSRs: the msr driver (/dev/cpu/N/msr) must read and write the host's
 * counters, never the tenant's.
 *
 * A RUN vCPU whose MPERF starts at 2^50 (far from the host's) spins on
 * CPU 1, so its values stay loaded there; meanwhile, from CPU 0:
 *  - reads through pread() and the X86_IOC_RDMSR_REGS ioctl return the
 *    host's MPERF, never a value near the guest's;
 *  - a write of the host's MPERF + 2^40 through /dev/cpu/1/msr moves the
 *    host's view by that much, and the guest's MPERF goes on without a
 *    jump.
 * The same helpers serve the ACPI CPPC feedback counters (cpc_read_ffh),
 * which QEMU's ACPI tables do not describe: under TCG there is no
 * acpi_cppc directory to read, so the msr driver's reads prove the path.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <asm/msr.h>
#include <asm/msr-index.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

#define GUEST_START	((u64)1 << 50)
#define HOST_JUMP	((u64)1 << 40)
/* Nothing counts 2^39 in the second this test runs. */
#define NO_JUMP		((u64)1 << 39)

static void guest_code(void)
{
	volatile u64 i;

	for (;;) {
		GUEST_SYNC(rdmsr(MSR_IA32_MPERF));
		for (i = 0; i < 100000; i++)
			;
	}
}


struct runner {
	struct kvm_vcpu *vcpu;
	volatile bool stop;
	u64 samples, first, last, max_step;
};

static void *run(void *arg)
{
	struct runner *r = arg;
	struct ucall uc;

	pin_self_to_cpu(1);
	while (!r->stop) {
		vcpu_run(r->vcpu);
		TEST_ASSERT_EQ(get_ucall(r->vcpu, &uc), UCALL_SYNC);
		if (r->samples++) {
			u64 step = uc.args[1] - r->last;

			r->max_step = step > r->max_step ? step : r->max_step;
		} else {
			r->first = uc.args[1];
		}
		r->last = uc.args[1];
	}
	return NULL;
}

static u64 read_regs(int fd)
{
	u32 regs[8] = { 0, MSR_IA32_MPERF };

	TEST_ASSERT(!ioctl(fd, X86_IOC_RDMSR_REGS, regs), "X86_IOC_RDMSR_REGS: %d", errno);
	return (u64)regs[2] << 32 | regs[0];
}

static u64 read_pread(int fd)
{
	u64 v;

	TEST_ASSERT(pread(fd, &v, 8, MSR_IA32_MPERF) == 8, "pread MPERF");
	return v;
}

int main(void)
{
	struct runner rn = {};
	struct kvm_vm *vm;
	pthread_t thread;
	u64 before, after, v;
	int fd, i;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_APERFMPERF);
	vm = vm_create_barebones();
	__TEST_REQUIRE(!__vcounters_enable(vm, KVM_VCOUNTERS_APERFMPERF, KVM_VCOUNTERS_MODE_RUN),
		       "needs the hardware modes (host APERF/MPERF that keep writes)");
	kvm_vm_free(vm);
	fd = open("/dev/cpu/1/msr", O_RDWR);
	__TEST_REQUIRE(fd >= 0, "needs /dev/cpu/1/msr (CONFIG_X86_MSR) and root");

	vm = vcounters_vm_create(KVM_VCOUNTERS_MODE_RUN, 1, &rn.vcpu, guest_code);
	vcpu_set_msr(rn.vcpu, MSR_IA32_MPERF, GUEST_START);
	pin_self_to_cpu(0);
	pthread_create(&thread, NULL, run, &rn);
	while (rn.samples < 3)
		usleep(1000);

	/* Reads: the host's MPERF, never the guest's (near 2^50). */
	for (i = 0; i < 20; i++) {
		v = i & 1 ? read_regs(fd) : read_pread(fd);
		TEST_ASSERT(v < GUEST_START / 2, "%s read MPERF %#lx: the guest's",
			    i & 1 ? "X86_IOC_RDMSR_REGS" : "pread", v);
		usleep(2000);
	}

	/* A write moves the host's view, not the guest's counter. */
	before = read_pread(fd);
	v = before + HOST_JUMP;
	TEST_ASSERT(pwrite(fd, &v, 8, MSR_IA32_MPERF) == 8, "pwrite MPERF");
	after = read_pread(fd);
	i = rn.samples;
	while (rn.samples < i + 5)
		usleep(1000);
	rn.stop = true;
	pthread_join(thread, NULL);

	ksft_print_msg("host MPERF %#lx, wrote +2^40, read %#lx; guest MPERF %#lx..%#lx over %lu "
		       "samples, largest step %#lx\n", before, after, rn.first, rn.last, rn.samples,
		       rn.max_step);
	TEST_ASSERT(after >= before + HOST_JUMP && after < before + HOST_JUMP + NO_JUMP,
		    "host MPERF %#lx after writing %#lx", after, before + HOST_JUMP);
	TEST_ASSERT(rn.first >= GUEST_START && rn.last - rn.first < NO_JUMP && rn.max_step < NO_JUMP,
		    "guest MPERF %#lx..%#lx, largest step %#lx: the host's write reached it",
		    rn.first, rn.last, rn.max_step);
	close(fd);
	kvm_vm_free(vm);
	return 0;
}
