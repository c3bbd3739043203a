// SPDX-License-Identifier: GPL-2.0-only
/*
 * KVM_CAP_X86_VCOUNTERS: KVM_CHECK_EXTENSION, every KVM_ENABLE_CAP success
 * and error path of the uapi, and KVM_VCOUNTERS_GET_VCPU_STATE.
 *
 * A failed KVM_ENABLE_CAP must change nothing: after each failure the VM
 * still accepts a valid enable (an attached VM would answer -EBUSY) and its
 * vCPUs report no feature.
 *
 * KVM_GET_SUPPORTED_CPUID never reports CPUID.06H:ECX[0]: it is system
 * wide, and a VM that did not opt in must not be told it has counters.
 * The cap and upstream's KVM_X86_DISABLE_EXITS_APERFMPERF own the same
 * MSRs: whichever comes second fails with -EBUSY and changes nothing.
 *
 * Where the PMU feature is not offered, the module said why when it
 * loaded, and the reason is this host's: on AMD, a CPU without PerfMonV2
 * (which this test reads from CPUID itself), else a kvm_amd loaded
 * without enable_mediated_pmu=1.
 */
#include <fcntl.h>
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

#define A	KVM_VCOUNTERS_APERFMPERF
#define P	KVM_VCOUNTERS_PMU

static int enable_cap(struct kvm_vm *vm, u64 a0, u64 a1, u64 a2, u64 a3, u32 flags)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_X86_VCOUNTERS,
		.flags = flags,
		.args = { a0, a1, a2, a3 },
	};

	return __vm_ioctl(vm, KVM_ENABLE_CAP, &cap);
}

/*
 * Not vcounters_state(): the buffer is poisoned first, so that reserved
 * fields the kernel leaves unwritten show as nonzero.
 */
static struct kvm_vcounters_vcpu_state get_state(struct kvm_vcpu *vcpu)
{
	struct kvm_vcounters_vcpu_state st;
	int i;

	memset(&st, 0xa5, sizeof(st));
	vcpu_ioctl(vcpu, KVM_VCOUNTERS_GET_VCPU_STATE, &st);
	for (i = 0; i < ARRAY_SIZE(st.reserved); i++)
		TEST_ASSERT_EQ(st.reserved[i], 0);
	return st;
}

static void guest_code(void)
{
	GUEST_DONE();
}

static void test_check_extension(u64 supported)
{
	struct kvm_vm *vm = vm_create_barebones();

	TEST_ASSERT(supported & A, "APERF/MPERF is always offered (EMULATE), got 0x%lx",
		    supported);
	TEST_ASSERT(!(supported & ~(u64)(A | P)), "unknown feature bits in 0x%lx", supported);
	TEST_ASSERT_EQ(vm_check_cap(vm, KVM_CAP_X86_VCOUNTERS), supported);
	kvm_vm_free(vm);
}

struct bad_call {
	const char *what;
	u64 args[4];
	u32 flags;
	int err;
};

static void test_errors(u64 supported)
{
	struct bad_call calls[] = {
		{ "no feature",			{ 0, 0, 0, 0 }, 0, EINVAL },
		{ "unknown feature bit 2",	{ A | 1ull << 2, 0, 0, 0 }, 0, EINVAL },
		{ "unknown feature bit 63",	{ 1ull << 63, 0, 0, 0 }, 0, EINVAL },
		{ "unknown APERF/MPERF mode",	{ A, 4, 0, 0 }, 0, EINVAL },
		{ "mode above 32 bits",		{ A, 1ull << 32, 0, 0 }, 0, EINVAL },
		{ "unknown PMU mode",		{ A | P, 0, 4, 0 }, 0, EINVAL },
		{ "PMU mode without PMU",	{ A, 0, KVM_VCOUNTERS_MODE_RUN, 0 }, 0, EINVAL },
		{ "PMU cannot emulate",		{ A | P, 0, KVM_VCOUNTERS_MODE_EMULATE, 0 }, 0, EINVAL },
		{ "args[3] set",		{ A, 0, 0, 1 }, 0, EINVAL },
		{ "flags set",			{ A, 0, 0, 0 }, 1, EINVAL },
	};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	int i, r;

	vm = vm_create(1);
	for (i = 0; i < ARRAY_SIZE(calls); i++) {
		r = enable_cap(vm, calls[i].args[0], calls[i].args[1],
			       calls[i].args[2], calls[i].args[3], calls[i].flags);
		TEST_ASSERT(r == -1 && errno == calls[i].err,
			    "%s: expected errno %d, got r = %d, errno %d",
			    calls[i].what, calls[i].err, r, errno);
	}

	/* What this host cannot provide. */
	if (!(supported & P)) {
		r = enable_cap(vm, A | P, 0, 0, 0, 0);
		TEST_ASSERT(r == -1 && errno == EOPNOTSUPP, "PMU: r = %d, errno %d", r, errno);
		r = enable_cap(vm, P, 0, 0, 0, 0);
		TEST_ASSERT(r == -1 && errno == EOPNOTSUPP, "PMU only: r = %d, errno %d", r, errno);
	}
	if (!vcounters_host_has_aperfmperf()) {
		for (i = KVM_VCOUNTERS_MODE_RUN; i <= KVM_VCOUNTERS_MODE_ENTRY; i++) {
			r = enable_cap(vm, A, i, 0, 0, 0);
			TEST_ASSERT(r == -1 && errno == EOPNOTSUPP,
				    "mode %d without host APERFMPERF: r = %d, errno %d", i, r, errno);
		}
	} else {
		ksft_print_msg("host has APERFMPERF: RUN/ENTRY refusal not testable here\n");
	}

	/* Nothing changed: a vCPU created now would report no feature ... */
	vcpu = vm_vcpu_add(vm, 0, guest_code);
	TEST_ASSERT_EQ(get_state(vcpu).features, 0);
	kvm_vm_free(vm);

	/* ... and a VM that saw every failure can still opt in. */
	vm = vm_create(1);
	for (i = 0; i < ARRAY_SIZE(calls); i++)
		TEST_ASSERT_EQ(enable_cap(vm, calls[i].args[0], calls[i].args[1],
					  calls[i].args[2], calls[i].args[3],
					  calls[i].flags), -1);
	TEST_ASSERT_EQ(enable_cap(vm, A, 0, 0, 0, 0), 0);

	/* Enabled once: a second enable, even a different valid one, is busy. */
	r = enable_cap(vm, A, KVM_VCOUNTERS_MODE_EMULATE, 0, 0, 0);
	TEST_ASSERT(r == -1 && errno == EBUSY, "second enable: r = %d, errno %d", r, errno);
	kvm_vm_free(vm);

	/* A vCPU exists: busy. */
	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	r = enable_cap(vm, A, 0, 0, 0, 0);
	TEST_ASSERT(r == -1 && errno == EBUSY, "after vCPU: r = %d, errno %d", r, errno);
	TEST_ASSERT_EQ(get_state(vcpu).features, 0);
	/*
	 * A VM that did not opt in has KVM's stats only: the module's are
	 * described by the module, for the VMs attached to it.
	 */
	vcpu_run(vcpu);
	TEST_ASSERT(vcounters_vcpu_has_stat(vcpu, "exits"), "no KVM stats");
	for (i = 0; i < ARRAY_SIZE(vcounters_stat_names); i++)
		TEST_ASSERT(!vcounters_vcpu_has_stat(vcpu, vcounters_stat_names[i]),
			    "%s in a VM that did not opt in", vcounters_stat_names[i]);
	kvm_vm_free(vm);
}

#define PMU_LINE	"kvm_vcounters: PMU: "

static void test_pmu_reason(u64 supported)
{
	const char *want, *line;
	char msg[512];

	TEST_ASSERT(vcounters_kmsg_last(PMU_LINE, msg, sizeof(msg)),
		    "no \"%s\" in the kernel log", PMU_LINE);
	TEST_ASSERT(!strncmp(msg, PMU_LINE, strlen(PMU_LINE)), "\"%s\" inside \"%s\"",
		    PMU_LINE, msg);
	line = msg + strlen(PMU_LINE);
	ksft_print_msg("PMU: %s", line);
	if (supported & P)
		want = "offered per VM";
	else if (!host_cpu_is_amd)
		return;
	/* Past the maximum extended leaf, CPUID answers another leaf's values. */
	else if (this_cpu_property(X86_PROPERTY_MAX_EXT_LEAF) < 0x80000022 ||
		 !this_cpu_has(X86_FEATURE_PERFMON_V2))
		want = "not offered: this host has no PerfMonV2";
	else
		want = "not offered: kvm_amd was loaded without enable_mediated_pmu=1";
	TEST_ASSERT(!strncmp(line, want, strlen(want)), "PMU: \"%s\", want \"%s...\"",
		    line, want);
}

static void test_state(void)
{
	struct kvm_vcounters_vcpu_state st;
	u64 modes[] = { KVM_VCOUNTERS_MODE_AUTO, KVM_VCOUNTERS_MODE_EMULATE };
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	int i, j, r;

	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		vm = vm_create(1);
		TEST_ASSERT_EQ(enable_cap(vm, A, modes[i], 0, 0, 0), 0);
		vcpu = vm_vcpu_add(vm, 0, guest_code);

		st = get_state(vcpu);
		TEST_ASSERT_EQ(st.features, A);
		TEST_ASSERT_EQ(st.pmu_mode, 0);
		/* Never AUTO; without host APERFMPERF, AUTO means EMULATE. */
		if (modes[i] == KVM_VCOUNTERS_MODE_EMULATE || !vcounters_host_has_aperfmperf())
			TEST_ASSERT_EQ(st.aperfmperf_mode, KVM_VCOUNTERS_MODE_EMULATE);
		else
			TEST_ASSERT(st.aperfmperf_mode == KVM_VCOUNTERS_MODE_RUN ||
				    st.aperfmperf_mode == KVM_VCOUNTERS_MODE_EMULATE,
				    "AUTO gave mode %u", st.aperfmperf_mode);

		/* KVM's stats, then the module's, all readable. */
		TEST_ASSERT(vcounters_vcpu_has_stat(vcpu, "exits"), "no KVM stats");
		for (j = 0; j < ARRAY_SIZE(vcounters_stat_names); j++)
			TEST_ASSERT(vcounters_vcpu_has_stat(vcpu, vcounters_stat_names[j]),
				    "no %s", vcounters_stat_names[j]);
		/* Nothing was live yet. */
		TEST_ASSERT_EQ(vcpu_get_stat(vcpu, vcounters_live_ns), 0);
		TEST_ASSERT_EQ(vcpu_get_stat(vcpu, vcounters_switches), 0);

		/* An opted-in VM runs, and its live time shows in the stats. */
		vcpu_run(vcpu);
		TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_DONE);
		TEST_ASSERT(vcpu_get_stat(vcpu, vcounters_live_ns) > 0, "no live time");
		/* At least one start and one stop; even: not live out of KVM_RUN. */
		TEST_ASSERT(vcpu_get_stat(vcpu, vcounters_switches) >= 2 &&
			    !(vcpu_get_stat(vcpu, vcounters_switches) & 1),
			    "switches %lu", vcpu_get_stat(vcpu, vcounters_switches));
		/* Host MSR accesses only where the hardware modes switch. */
		if (st.aperfmperf_mode == KVM_VCOUNTERS_MODE_EMULATE) {
			TEST_ASSERT_EQ(vcpu_get_stat(vcpu, vcounters_msr_accesses_run), 0);
			TEST_ASSERT_EQ(vcpu_get_stat(vcpu, vcounters_msr_accesses_entry), 0);
		} else {
			TEST_ASSERT(vcpu_get_stat(vcpu, vcounters_msr_accesses_run) +
				    vcpu_get_stat(vcpu, vcounters_msr_accesses_entry) > 0,
				    "mode %u switched without MSR accesses", st.aperfmperf_mode);
		}

		/* A bad buffer is refused (raw ioctl: the library checks types). */
		r = ioctl(vcpu->fd, KVM_VCOUNTERS_GET_VCPU_STATE, (void *)8);
		TEST_ASSERT(r == -1 && errno == EFAULT, "bad pointer: r = %d, errno %d", r, errno);
		kvm_vm_free(vm);
	}
}

static void test_supported_cpuid(void)
{
	TEST_ASSERT(!kvm_cpu_has(X86_FEATURE_APERFMPERF),
		    "KVM_GET_SUPPORTED_CPUID reports APERFMPERF to every VM");
}

static int disable_aperfmperf_exits(struct kvm_vm *vm)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_X86_DISABLE_EXITS,
		.args = { KVM_X86_DISABLE_EXITS_APERFMPERF },
	};

	return __vm_ioctl(vm, KVM_ENABLE_CAP, &cap);
}

/* The cap and upstream's APERF/MPERF passthrough refuse each other. */
static void test_other_owner(void)
{
	struct kvm_vm *vm;
	int r;

	if (!vcounters_host_has_aperfmperf()) {
		ksft_print_msg("no host APERFMPERF: KVM_X86_DISABLE_EXITS_APERFMPERF not offered\n");
		return;
	}

	/* Passthrough first: the cap is refused, passthrough stays. */
	vm = vm_create_barebones();
	TEST_ASSERT_EQ(disable_aperfmperf_exits(vm), 0);
	r = enable_cap(vm, A, 0, 0, 0, 0);
	TEST_ASSERT(r == -1 && errno == EBUSY, "cap after passthrough: r %d errno %d", r, errno);
	TEST_ASSERT_EQ(disable_aperfmperf_exits(vm), 0);
	kvm_vm_free(vm);

	/* The cap first: passthrough is refused, the VM stays opted in. */
	vm = vm_create_barebones();
	TEST_ASSERT_EQ(enable_cap(vm, A, 0, 0, 0, 0), 0);
	r = disable_aperfmperf_exits(vm);
	TEST_ASSERT(r == -1 && errno == EBUSY, "passthrough after cap: r %d errno %d", r, errno);
	r = enable_cap(vm, A, 0, 0, 0, 0);
	TEST_ASSERT(r == -1 && errno == EBUSY, "second enable: r %d errno %d", r, errno);
	kvm_vm_free(vm);
}

/*
 * VMs whose guest state is protected from KVM (SEV-ES, SNP, TDX) are
 * refused with -EOPNOTSUPP: the module cannot control their MSR
 * intercepts. Only where the host offers such VM types; under TCG it
 * offers none, and the host test protected_vms_are_refused_as_not_supported
 * (cargo test) proves the decision.
 */
static void test_protected_vm_types(void)
{
	static const unsigned long types[] = {
		KVM_X86_SEV_ES_VM, KVM_X86_SNP_VM, KVM_X86_TDX_VM,
	};
	u64 offered = kvm_check_cap(KVM_CAP_VM_TYPES);
	struct kvm_vm *vm;
	int i, r;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		if (!(offered & BIT(types[i]))) {
			ksft_print_msg("VM type %lu not offered by this host (needs SEV-ES, SNP or TDX hardware): not tried\n",
				       types[i]);
			continue;
		}
		vm = vm_create_barebones_type(types[i]);
		r = __vcounters_enable(vm, KVM_VCOUNTERS_APERFMPERF, KVM_VCOUNTERS_MODE_EMULATE);
		TEST_ASSERT(r == -1 && errno == EOPNOTSUPP,
			    "VM type %lu: KVM_ENABLE_CAP returned %d, errno %d", types[i], r, errno);
		kvm_vm_free(vm);
	}
}

int main(void)
{
	u64 supported = kvm_check_cap(KVM_CAP_X86_VCOUNTERS);

	TEST_REQUIRE(supported);

	test_check_extension(supported);
	test_supported_cpuid();
	test_other_owner();
	test_errors(supported);
	test_pmu_reason(supported);
	test_state();
	test_protected_vm_types();
	return 0;
}
