// SPDX-License-Identifier: GPL-2.0-only
/*
 * Seeded, bounded random sequences of KVM_CHECK_EXTENSION, KVM_ENABLE_CAP
 * (random arguments, the PMU bit included, before and after vCPUs exist),
 * GET_VCPU_STATE (bad pointers included), KVM_GET_MSRS/KVM_SET_MSRS of
 * APERF/MPERF and of the PMU's counters, selectors and global control
 * (random values), vCPU creation, KVM_RUN of a guest that reads them, and
 * VM replacement. Every return is checked against the uapi, and a model
 * of the VM's state checks that failed calls change nothing. Run where
 * the host offers the PMU too (make check's pmu boot), a VM that opted in
 * to it must report it in ENTRY mode.
 *
 *   vcounters_fuzz_test [SEED [OPS]]   (default: the library's random seed, which
 *                                       it prints, and OPS 400)
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <asm/msr-index.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

#define MAX_VCPUS		4

/* From the library's seed or SEED: a run repeats with the seed it printed. */
static struct kvm_random_state rng;

static u64 rnd(void)
{
	return vcounters_random_u64(&rng);
}

static u32 below(u32 n)
{
	return kvm_random_u32(&rng) % n;
}

struct model {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu[MAX_VCPUS];
	bool cpuid_bit[MAX_VCPUS];
	int nr_vcpus;
	u64 features;		/* 0 until the cap is enabled */
	u32 mode;		/* requested APERF/MPERF mode */
	u32 pmu_mode;		/* requested PMU mode */
	/* A counter of the vCPU was set at or above 2^63 (may wrap if loaded). */
	bool big[MAX_VCPUS][2];
};

/* Whether the VM opted in to APERF/MPERF (the PMU alone leaves them to KVM). */
static bool has_aperfmperf(struct model *m)
{
	return m->features & KVM_VCOUNTERS_APERFMPERF;
}

static u64 supported;
static bool host_aperfmperf;
/* The AMD core counters KVM gives a vCPU by default; 0 for none. */
static u32 pmu_counters;

/* Coverage: outcomes seen, printed at the end. */
static long n_enable_ok, n_einval, n_eopnotsupp, n_ebusy, n_run_ok, n_run_gp;

static void guest_code(void)
{
	u64 v;

	for (;;)
		GUEST_SYNC(rdmsr_safe(MSR_IA32_MPERF, &v));
}

/* What the uapi says KVM_ENABLE_CAP must answer (0 or an errno). */
static int expected_enable(struct model *m, const __u64 args[4], u32 flags)
{
	u64 f = args[0];

	if (flags || args[3] || !f || (f & ~(u64)(KVM_VCOUNTERS_APERFMPERF | KVM_VCOUNTERS_PMU)))
		return EINVAL;
	if (args[1] > KVM_VCOUNTERS_MODE_EMULATE || args[2] > KVM_VCOUNTERS_MODE_EMULATE)
		return EINVAL;
	if ((!(f & KVM_VCOUNTERS_APERFMPERF) && args[1]) || (!(f & KVM_VCOUNTERS_PMU) && args[2]))
		return EINVAL;
	if (args[2] == KVM_VCOUNTERS_MODE_EMULATE)
		return EINVAL;
	if (f & ~supported)
		return EOPNOTSUPP;
	/* The hardware modes need the host's APERFMPERF. */
	if ((args[1] == KVM_VCOUNTERS_MODE_RUN || args[1] == KVM_VCOUNTERS_MODE_ENTRY) &&
	    !host_aperfmperf)
		return EOPNOTSUPP;
	if (m->nr_vcpus || m->features)
		return EBUSY;
	return 0;
}

static u64 random_arg(void)
{
	switch (below(6)) {
	case 0: return 0;
	case 1: return KVM_VCOUNTERS_APERFMPERF;
	case 2: return below(4);
	case 3: return KVM_VCOUNTERS_APERFMPERF | KVM_VCOUNTERS_PMU;
	case 4: return 1ull << below(64);
	default: return rnd();
	}
}

static void op_enable(struct model *m)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_X86_VCOUNTERS };
	int i, want, r;

	if (below(2)) {
		/* Plausible: what a VMM would send, valid more often than not. */
		cap.args[0] = below(4) ? KVM_VCOUNTERS_APERFMPERF : KVM_VCOUNTERS_APERFMPERF | KVM_VCOUNTERS_PMU;
		cap.args[1] = below(2) ? KVM_VCOUNTERS_MODE_AUTO : below(4);
		/* AUTO, RUN or ENTRY for the PMU. */
		if (cap.args[0] & KVM_VCOUNTERS_PMU && below(2))
			cap.args[2] = below(3);
	} else {
		for (i = 0; i < 4; i++)
			cap.args[i] = i == 3 ? (below(8) ? 0 : rnd()) : random_arg();
		cap.flags = below(8) ? 0 : rnd();
	}
	want = expected_enable(m, cap.args, cap.flags);
	r = __vm_ioctl(m->vm, KVM_ENABLE_CAP, &cap);
	TEST_ASSERT(want ? r == -1 && errno == want : r == 0,
		    "ENABLE_CAP(%llx, %llx, %llx, %llx, flags %x): r %d errno %d, expected %d",
		    cap.args[0], cap.args[1], cap.args[2], cap.args[3], cap.flags, r, errno, want);
	n_enable_ok += !want;
	n_einval += want == EINVAL;
	n_eopnotsupp += want == EOPNOTSUPP;
	n_ebusy += want == EBUSY;
	if (!want) {
		m->features = cap.args[0];
		m->mode = cap.args[1];
		m->pmu_mode = cap.args[2];
	}
}

static void op_check_extension(struct model *m)
{
	TEST_ASSERT_EQ(kvm_check_cap(KVM_CAP_X86_VCOUNTERS), supported);
	TEST_ASSERT_EQ(vm_check_cap(m->vm, KVM_CAP_X86_VCOUNTERS), supported);
}

/*
 * The mode GET_VCPU_STATE reports for vCPU @i: 0 in a VM without
 * APERF/MPERF (one with the PMU alone); never AUTO, which prefers
 * RUN; EMULATE instead of a hardware mode while a counter is at or above
 * 2^63 (it would wrap in the MSRs). The guest only reads, and nothing here
 * runs long enough to count a big value past 2^64.
 */
static u32 effective_mode(struct model *m, int i)
{
	u32 mode = m->mode;

	if (!has_aperfmperf(m))
		return 0;
	if (mode == KVM_VCOUNTERS_MODE_AUTO)
		mode = host_aperfmperf ? KVM_VCOUNTERS_MODE_RUN : KVM_VCOUNTERS_MODE_EMULATE;
	if (mode != KVM_VCOUNTERS_MODE_EMULATE && (m->big[i][0] || m->big[i][1]))
		mode = KVM_VCOUNTERS_MODE_EMULATE;
	return mode;
}

static void check_state(struct model *m, int i)
{
	struct kvm_vcounters_vcpu_state st = vcounters_state(m->vcpu[i]);
	int r;

	TEST_ASSERT_EQ(st.features, m->features);
	/*
	 * Every vCPU here has an in-kernel irqchip and KVM's default PMU; AUTO
	 * is RUN.
	 */
	TEST_ASSERT_EQ(st.pmu_mode, !(m->features & KVM_VCOUNTERS_PMU) ? 0 :
		       m->pmu_mode == KVM_VCOUNTERS_MODE_ENTRY ? KVM_VCOUNTERS_MODE_ENTRY :
		       KVM_VCOUNTERS_MODE_RUN);
	TEST_ASSERT_EQ(st.aperfmperf_mode, effective_mode(m, i));
	for (r = 0; r < ARRAY_SIZE(st.reserved); r++)
		TEST_ASSERT_EQ(st.reserved[r], 0);
	if (!has_aperfmperf(m))
		TEST_ASSERT(!st.aperf && !st.mperf, "counters without the cap");
}

static void op_state(struct model *m)
{
	static const unsigned long bad[] = { 0, 8, 0xffffffffffffff00ul, 0x8000000000000000ul };
	struct kvm_vcpu *vcpu;
	int i, r;

	if (!m->nr_vcpus)
		return;
	i = below(m->nr_vcpus);
	vcpu = m->vcpu[i];
	if (below(3)) {
		check_state(m, i);
		return;
	}
	r = ioctl(vcpu->fd, KVM_VCOUNTERS_GET_VCPU_STATE, (void *)bad[below(ARRAY_SIZE(bad))]);
	TEST_ASSERT(r == -1 && errno == EFAULT, "bad pointer: r %d errno %d", r, errno);
}

static void op_msrs(struct model *m)
{
	u32 msr = below(2) ? MSR_IA32_MPERF : MSR_IA32_APERF;
	struct kvm_vcpu *vcpu;
	u64 v = below(2) ? 0 : rnd();
	int i, r;

	if (!m->nr_vcpus)
		return;
	i = below(m->nr_vcpus);
	vcpu = m->vcpu[i];
	if (below(2)) {
		r = _vcpu_set_msr(vcpu, msr, v);
		/* Opted in: any value. Not: only 0, as for any advertised MSR. */
		TEST_ASSERT_EQ(r, (has_aperfmperf(m) || !v) ? 1 : 0);
		if (r)
			m->big[i][msr == MSR_IA32_MPERF] = v >> 63;
		/* Not running: the value reads back as written. */
		if (r)
			TEST_ASSERT_EQ(vcpu_get_msr(vcpu, msr), has_aperfmperf(m) ? v : 0);
	} else {
		v = vcpu_get_msr(vcpu, msr);
		if (!has_aperfmperf(m))
			TEST_ASSERT_EQ(v, 0);
	}
}

/*
 * KVM_SET_MSRS/KVM_GET_MSRS of the PMU's MSRs, which are KVM's with or
 * without the PMU feature: a counter keeps its low 48 bits, a selector
 * and AMD's global control drop reserved bits (KVM masks them, it does
 * not refuse them), such as those of counters the vCPU lacks.
 */
/* AMD's counters are 48 bits wide. */
#define PMC_MASK	GENMASK_ULL(47, 0)

static void op_pmu_msrs(struct model *m)
{
	u64 v = below(2) ? rnd() : rnd() & PMC_MASK, got, global;
	struct kvm_vcpu *vcpu;
	u32 n;

	if (!m->nr_vcpus || !pmu_counters)
		return;
	vcpu = m->vcpu[below(m->nr_vcpus)];
	n = below(pmu_counters);
	switch (below(3)) {
	case 0:
		TEST_ASSERT_EQ(_vcpu_set_msr(vcpu, MSR_F15H_PERF_CTR + 2 * n, v), 1);
		TEST_ASSERT_EQ(vcpu_get_msr(vcpu, MSR_F15H_PERF_CTR + 2 * n), v & PMC_MASK);
		break;
	case 1:
		TEST_ASSERT_EQ(_vcpu_set_msr(vcpu, MSR_F15H_PERF_CTL + 2 * n, v), 1);
		got = vcpu_get_msr(vcpu, MSR_F15H_PERF_CTL + 2 * n);
		TEST_ASSERT(!(got & ~v) && (got & 0xffff) == (v & 0xffff),
			    "PERF_CTL%u: wrote %#lx, read %#lx", n, v, got);
		break;
	default:
		if (!kvm_cpu_has(X86_FEATURE_PERFMON_V2))
			return;
		/* One enable bit per counter the vCPU has. */
		global = GENMASK_ULL(pmu_counters - 1, 0);
		if (below(2))
			v &= global;
		TEST_ASSERT_EQ(_vcpu_set_msr(vcpu, MSR_AMD64_PERF_CNTR_GLOBAL_CTL, v), 1);
		TEST_ASSERT_EQ(vcpu_get_msr(vcpu, MSR_AMD64_PERF_CNTR_GLOBAL_CTL), v & global);
		break;
	}
}

static void op_add_vcpu(struct model *m)
{
	int i = m->nr_vcpus;

	if (i == MAX_VCPUS)
		return;
	m->vcpu[i] = vm_vcpu_add(m->vm, i, guest_code);
	m->cpuid_bit[i] = below(2);
	if (m->cpuid_bit[i])
		vcpu_set_cpuid_feature(m->vcpu[i], X86_FEATURE_APERFMPERF);
	else
		vcpu_clear_cpuid_feature(m->vcpu[i], X86_FEATURE_APERFMPERF);
	m->nr_vcpus++;
	check_state(m, i);
}

static void op_run(struct model *m)
{
	struct kvm_vcpu *vcpu;
	struct ucall uc;
	int i;

	if (!m->nr_vcpus)
		return;
	i = below(m->nr_vcpus);
	vcpu = m->vcpu[i];
	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_SYNC);
	/* #GP exactly without the cap or without the CPUID bit. */
	TEST_ASSERT_EQ(uc.args[1], (has_aperfmperf(m) && m->cpuid_bit[i]) ? 0 : GP_VECTOR);
	if (uc.args[1])
		n_run_gp++;
	else
		n_run_ok++;
}

static bool every_outcome_reached(void)
{
	return n_enable_ok && n_einval && n_ebusy && n_run_ok && n_run_gp;
}

static void new_vm(struct model *m)
{
	if (m->vm)
		kvm_vm_free(m->vm);
	memset(m, 0, sizeof(*m));
	m->vm = vm_create(MAX_VCPUS);
}

int main(int argc, char *argv[])
{
	long ops = argc > 2 ? strtol(argv[2], NULL, 0) : 400;
	struct model m = {};
	long i;

	supported = kvm_check_cap(KVM_CAP_X86_VCOUNTERS);
	TEST_REQUIRE(supported);
	/*
	 * Whether the host offers RUN and ENTRY: it has APERF/MPERF and they
	 * keep what is written (vcounters_hostwrites_test checks that answer
	 * against the counters themselves).
	 */
	{
		struct kvm_vm *vm = vm_create_barebones();

		host_aperfmperf = !__vcounters_enable(vm, KVM_VCOUNTERS_APERFMPERF,
						      KVM_VCOUNTERS_MODE_RUN);
		kvm_vm_free(vm);
	}
	if (host_cpu_is_amd && kvm_cpu_has(X86_FEATURE_PERFCTR_CORE))
		pmu_counters = kvm_cpu_has(X86_FEATURE_PERFMON_V2) ?
			       kvm_cpu_property(X86_PROPERTY_NR_PERFCTR_CORE) : 6;
	rng = vcounters_rng(argc > 1 ? argv[1] : NULL);
	pr_info("seed 0x%x, %ld operations\n", kvm_random_seed, ops);

	new_vm(&m);
	/*
	 * Some outcomes need a short sequence (enable before any vCPU, then
	 * a vCPU with the CPUID bit runs): past the asked-for length, go on
	 * until each was reached, up to five times as long.
	 */
	for (i = 0; i < ops || (ops >= 200 && i < 5 * ops && !every_outcome_reached()); i++) {
		switch (below(32)) {
		case 0 ... 7:
			op_enable(&m);
			break;
		case 8 ... 9:
			op_check_extension(&m);
			break;
		case 10 ... 13:
			op_state(&m);
			break;
		case 14 ... 17:
			op_msrs(&m);
			break;
		case 18 ... 19:
			op_pmu_msrs(&m);
			break;
		case 20 ... 22:
			op_add_vcpu(&m);
			break;
		case 23 ... 30:
			op_run(&m);
			break;
		default:
			new_vm(&m);
			break;
		}
	}
	kvm_vm_free(m.vm);
	pr_info("seed 0x%x: %ld operations checked; ENABLE_CAP ok %ld, EINVAL %ld, EOPNOTSUPP %ld, EBUSY %ld; guest reads ok %ld, #GP %ld\n",
		kvm_random_seed, i, n_enable_ok, n_einval, n_eopnotsupp, n_ebusy, n_run_ok,
		n_run_gp);
	TEST_ASSERT(ops < 200 || every_outcome_reached(),
		    "a sequence this long should reach every outcome");
	return 0;
}
