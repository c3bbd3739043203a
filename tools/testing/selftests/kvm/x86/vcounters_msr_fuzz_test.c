// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest-side fuzz: seeded random RDMSR/WRMSR of APERF, MPERF and their
 * neighbours (0xe0-0xef) in three VMs: opted in with the CPUID bit,
 * opted in without it, and not opted in. Each access is checked:
 *  - APERF/MPERF: no #GP only with opt-in and the CPUID bit; a read
 *    returns the guest's own value (at least the last value written or
 *    read, and not more than the guest's TSC time since then allows, or
 *    counted from 0 after the other counter wrapped, as the SDM says);
 *  - every other index: the same outcome (#GP or not, and the value of a
 *    read) as in the VM that did not opt in, which is upstream's.
 *
 *   vcounters_msr_fuzz_test [SEED [OPS]]   (default: the library's random seed,
 *                                           which it prints, and OPS 300)
 */
#include <stdlib.h>
#include <asm/msr-index.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

#define FIRST_MSR		0xe0
#define NR_MSRS			16
/* A read may see the counter a few guest exits later than the host's TSC. */
#define SLACK			(100 * 1000 * 1000ull)

enum { OPTED, NO_BIT, PLAIN, NR_VMS };

struct op {
	u32 index;
	bool write;
	u64 value;
};

/*
 * From the library's seed or SEED: a run repeats with the seed it printed.
 * The host draws each access; the guest only performs it.
 */
static struct kvm_random_state rng;

static u64 rnd(void)
{
	return vcounters_random_u64(&rng);
}

static u32 below(u32 n)
{
	return kvm_random_u32(&rng) % n;
}

/* The guest performs what the host put in @op, one access per sync. */
static struct op op;

static void guest_code(void)
{
	u64 value;
	u8 vector;

	for (;;) {
		GUEST_SYNC(0);
		value = op.value;
		if (op.write)
			vector = wrmsr_safe(op.index, value);
		else
			vector = rdmsr_safe(op.index, &value);
		GUEST_SYNC_ARGS(1, vector, value, rdtsc(), 0);
	}
}

struct result {
	u8 vector;
	u64 value, tsc;
};

static struct result guest_access(struct kvm_vm *vm, struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	sync_global_to_guest(vm, op);
	vcpu_run(vcpu);
	if (get_ucall(vcpu, &uc) == UCALL_ABORT)
		REPORT_GUEST_ASSERT(uc);
	TEST_ASSERT_EQ(uc.args[1], 1);
	return (struct result){ uc.args[2], uc.args[3], uc.args[4] };
}

int main(int argc, char *argv[])
{
	long i, ops = argc > 2 ? atol(argv[2]) : 300;
	struct kvm_vcpu *vcpu[NR_VMS];
	struct kvm_vm *vm[NR_VMS];
	/* The opted-in guest's last known counter values and when. */
	u64 known[2] = { 0, 0 }, known_tsc[2] = { 0, 0 };
	/* Counter c may have been cleared by the other's wrap since known[c]. */
	bool may_be_cleared[2] = { false, false };
	long n_gp = 0, n_ok = 0, n_counter = 0;
	struct ucall uc;
	int v;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_APERFMPERF);
	rng = vcounters_rng(argc > 1 ? argv[1] : NULL);
	ksft_print_msg("seed 0x%x, %ld operations\n", kvm_random_seed, ops);

	for (v = 0; v < NR_VMS; v++) {
		vm[v] = vm_create(1);
		if (v != PLAIN)
			vm_enable_cap(vm[v], KVM_CAP_X86_VCOUNTERS, KVM_VCOUNTERS_APERFMPERF);
		vcpu[v] = vm_vcpu_add(vm[v], 0, guest_code);
		if (v == OPTED)
			vcpu_set_cpuid_feature(vcpu[v], X86_FEATURE_APERFMPERF);
		else
			vcpu_clear_cpuid_feature(vcpu[v], X86_FEATURE_APERFMPERF);
		vcpu_run(vcpu[v]);
		TEST_ASSERT_EQ(get_ucall(vcpu[v], &uc), UCALL_SYNC);
	}

	for (i = 0; i < ops; i++) {
		struct result r[NR_VMS];
		int c, w;

		op.index = FIRST_MSR + below(NR_MSRS);
		/* Counters more often: they are what the VMs differ in. */
		if (below(2))
			op.index = below(2) ? MSR_IA32_APERF : MSR_IA32_MPERF;
		op.write = !below(3);
		if (below(4)) {
			op.value = rnd();
			op.value >>= below(64);
		} else {
			op.value = ~0ull - below(1000);
		}
		for (v = 0; v < NR_VMS; v++) {
			r[v] = guest_access(vm[v], vcpu[v]);
			vcpu_run(vcpu[v]);
			TEST_ASSERT_EQ(get_ucall(vcpu[v], &uc), UCALL_SYNC);
		}

		c = op.index == MSR_IA32_APERF ? 0 : op.index == MSR_IA32_MPERF ? 1 : -1;
		if (c < 0) {
			/* Not ours: exactly what the VM without the cap does. */
			for (v = OPTED; v < PLAIN; v++)
				TEST_ASSERT(r[v].vector == r[PLAIN].vector &&
					    (op.write || r[v].vector || r[v].value == r[PLAIN].value),
					    "op %ld: %s 0x%x: VM %d vector %u value 0x%lx, plain %u 0x%lx",
					    i, op.write ? "WRMSR" : "RDMSR", op.index, v, r[v].vector,
					    r[v].value, r[PLAIN].vector, r[PLAIN].value);
			n_gp += r[PLAIN].vector == GP_VECTOR;
			n_ok += !r[PLAIN].vector;
			continue;
		}
		n_counter++;
		/*
		 * A counter that may have wrapped since it was known cleared the
		 * other one then: note it for that one's next read.
		 */
		for (w = 0; w < 2; w++)
			if (known[w] && -known[w] <= (r[OPTED].tsc - known_tsc[w]) * 2 + SLACK)
				may_be_cleared[!w] = true;
		/* Without the bit or the cap: #GP, as upstream. */
		TEST_ASSERT_EQ(r[NO_BIT].vector, GP_VECTOR);
		TEST_ASSERT_EQ(r[PLAIN].vector, GP_VECTOR);
		TEST_ASSERT(!r[OPTED].vector, "op %ld: %s 0x%x in the opted-in VM: vector %u", i,
			    op.write ? "WRMSR" : "RDMSR", op.index, r[OPTED].vector);
		if (op.write) {
			known[c] = op.value;
		} else {
			/*
			 * The guest's own value: no less than the last one known,
			 * and no more than its TSC time since then allows (APERF
			 * runs at 5/4 of it on the test machine's counters). If
			 * the other counter may have wrapped meanwhile, this one
			 * may have been cleared then, as the SDM says, and counted
			 * from 0 since.
			 */
			u64 elapsed = (r[OPTED].tsc - known_tsc[c]) * 2 + SLACK;
			u64 since = known[c] + elapsed;
			bool cleared = may_be_cleared[c] && r[OPTED].value <= elapsed;

			TEST_ASSERT(r[OPTED].value - known[c] <= since - known[c] || cleared,
				    "op %ld: counter %d read 0x%lx, last known 0x%lx", i, c,
				    r[OPTED].value, known[c]);
			known[c] = r[OPTED].value;
		}
		known_tsc[c] = r[OPTED].tsc;
		may_be_cleared[c] = false;
	}
	ksft_print_msg("seed 0x%x: %ld ops, %ld on APERF/MPERF, neighbours: %ld #GP, %ld ok\n",
		       kvm_random_seed, ops, n_counter, n_gp, n_ok);
	TEST_ASSERT(n_counter > 0 && n_gp > 0, "too few operations to cover the outcomes");
	for (v = 0; v < NR_VMS; v++)
		kvm_vm_free(vm[v]);
	return 0;
}
