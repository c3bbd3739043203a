// SPDX-License-Identifier: GPL-2.0-only
/*
 * Hosts whose APERF/MPERF read but do not keep writes (nested under a
 * hypervisor that passes only the reads through): the hardware modes
 * would hand a guest the host's counts there, so the module must not
 * offer them. make check boots the test machine three ways: counters
 * that keep writes (layer hw), drop them and fault them (hw-drop,
 * hw-fault, the CPU model's aperfmperf-writes property).
 *
 * This test finds out which host it is on by itself, from CPU 0's MPERF
 * through /dev/cpu/0/msr (write a value far from the current one, read
 * it back, restore), then checks:
 *  - writes kept: explicit RUN and ENTRY are accepted and AUTO picks RUN;
 *  - writes dropped or faulting: explicit RUN and ENTRY fail with
 *    EOPNOTSUPP, AUTO picks EMULATE;
 *  - on every host, a vCPU given MPERF = 2^62 or 2^63 by KVM_SET_MSRS and
 *    by a guest WRMSR reads back that value plus what it counted, after a
 *    run. 2^63 and above may wrap while loaded (and clear APERF in the
 *    MSRs): such values are emulated until they have wrapped, whatever the
 *    mode.
 * Without host APERFMPERF it skips: there the hardware modes are refused
 * anyway (vcounters_cap_test).
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <asm/msr-index.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

#define SAFE		(1ull << 62)
#define BIG		(1ull << 63)
/* What a vCPU may count in the few runs below: far less than 2^40. */
#define COUNTED		(1ull << 40)

enum host_writes { WRITES_KEPT, WRITES_DROPPED, WRITES_FAULT };

static const char *const host_writes_name[] = { "kept", "dropped", "faulting" };

static enum host_writes probe_host_writes(void)
{
	int fd = open("/dev/cpu/0/msr", O_RDWR);
	u64 v, probe, back;

	__TEST_REQUIRE(fd >= 0, "needs /dev/cpu/0/msr (CONFIG_X86_MSR) and root");
	TEST_ASSERT(pread(fd, &v, 8, MSR_IA32_MPERF) == 8, "read MPERF");
	probe = v ^ (1ull << 62);
	if (pwrite(fd, &probe, 8, MSR_IA32_MPERF) != 8) {
		close(fd);
		return WRITES_FAULT;
	}
	TEST_ASSERT(pread(fd, &back, 8, MSR_IA32_MPERF) == 8, "read MPERF");
	if (back - probe >= (1ull << 32)) {
		close(fd);
		return WRITES_DROPPED;
	}
	v += back - probe;
	TEST_ASSERT(pwrite(fd, &v, 8, MSR_IA32_MPERF) == 8, "restore MPERF");
	close(fd);
	return WRITES_KEPT;
}

static void guest_code(u64 value)
{
	GUEST_SYNC(rdmsr(MSR_IA32_MPERF));
	wrmsr(MSR_IA32_MPERF, value);
	GUEST_SYNC(rdmsr(MSR_IA32_MPERF));
	GUEST_DONE();
}

static u64 run_sync(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_SYNC);
	return uc.args[1];
}

/* Big values survive, in the mode the host and the value allow. */
static void test_big_values(u32 mode, u64 value, u32 want_mode)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vcounters_vm_create(mode, 1, &vcpu, guest_code);
	u64 v;

	vcpu_args_set(vcpu, 1, value);
	vcpu_set_msr(vcpu, MSR_IA32_MPERF, value);
	TEST_ASSERT_EQ(vcounters_state(vcpu).aperfmperf_mode, want_mode);
	v = run_sync(vcpu);
	TEST_ASSERT_EQ(vcounters_state(vcpu).aperfmperf_mode, want_mode);
	TEST_ASSERT(v >= value && v < value + COUNTED, "mode %u: KVM_SET_MSRS %#lx, guest read %#lx",
		    want_mode, value, v);
	v = run_sync(vcpu);
	TEST_ASSERT(v >= value && v < value + COUNTED, "mode %u: guest wrote %#lx, read %#lx",
		    want_mode, value, v);
	v = vcpu_get_msr(vcpu, MSR_IA32_MPERF);
	TEST_ASSERT(v >= value && v < value + COUNTED, "mode %u: KVM_GET_MSRS %#lx", want_mode, v);
	kvm_vm_free(vm);
}

int main(void)
{
	enum host_writes writes;
	struct kvm_vm *vm;
	int r;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_APERFMPERF);
	__TEST_REQUIRE(vcounters_host_has_aperfmperf(),
		       "needs host APERFMPERF (make check's hw layers have it)");
	writes = probe_host_writes();
	ksft_print_msg("host APERF/MPERF writes: %s\n", host_writes_name[writes]);

	if (writes == WRITES_KEPT) {
		test_big_values(KVM_VCOUNTERS_MODE_RUN, SAFE, KVM_VCOUNTERS_MODE_RUN);
		test_big_values(KVM_VCOUNTERS_MODE_ENTRY, SAFE, KVM_VCOUNTERS_MODE_ENTRY);
		test_big_values(KVM_VCOUNTERS_MODE_AUTO, SAFE, KVM_VCOUNTERS_MODE_RUN);
		test_big_values(KVM_VCOUNTERS_MODE_RUN, BIG, KVM_VCOUNTERS_MODE_EMULATE);
		test_big_values(KVM_VCOUNTERS_MODE_ENTRY, BIG, KVM_VCOUNTERS_MODE_EMULATE);
	} else {
		u32 mode;

		for (mode = KVM_VCOUNTERS_MODE_RUN; mode <= KVM_VCOUNTERS_MODE_ENTRY; mode++) {
			vm = vm_create_barebones();
			r = __vcounters_enable(vm, KVM_VCOUNTERS_APERFMPERF, mode);
			TEST_ASSERT(r == -1 && errno == EOPNOTSUPP,
				    "mode %u on a host whose writes are %s: r %d errno %d", mode,
				    host_writes_name[writes], r, errno);
			kvm_vm_free(vm);
		}
		test_big_values(KVM_VCOUNTERS_MODE_AUTO, SAFE, KVM_VCOUNTERS_MODE_EMULATE);
		test_big_values(KVM_VCOUNTERS_MODE_AUTO, BIG, KVM_VCOUNTERS_MODE_EMULATE);
	}
	test_big_values(KVM_VCOUNTERS_MODE_EMULATE, BIG, KVM_VCOUNTERS_MODE_EMULATE);
	return 0;
}
