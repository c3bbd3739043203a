// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm_vcounters lifetime: many VMs created and destroyed with and without
 * the capability; the module cannot be unloaded while an opted-in VM lives
 * (every vCPU callback would run freed code), can be while only VMs that
 * did not opt in live, and can be loaded again. Without the module, KVM
 * answers 0 to KVM_CHECK_EXTENSION(KVM_CAP_X86_VCOUNTERS).
 *
 * Then CYCLES times (argv[2], default 10): load the module, run a VM with
 * the cap and one without, rmmod (refused while the opted-in VM lives,
 * accepted with only the plain one alive), free them.
 *
 * Needs the module file (path in argv[1], default below) and ends with the
 * module loaded, as it found it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"

#define MODULE_NAME	"kvm_vcounters"
#define MODULE_PATH	"/lib/modules/extra/kvm_vcounters.ko"
#define NR_VMS		16
#define CYCLES		10

static void guest_code(void)
{
	GUEST_DONE();
}

static struct kvm_vm *create_vm(bool opt_in)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;

	vm = vm_create(1);
	if (opt_in)
		vm_enable_cap(vm, KVM_CAP_X86_VCOUNTERS, KVM_VCOUNTERS_APERFMPERF);
	vcpu = vm_vcpu_add(vm, 0, guest_code);
	vcpu_run(vcpu);
	TEST_ASSERT_EQ(get_ucall(vcpu, &uc), UCALL_DONE);
	return vm;
}

static int unload(void)
{
	return syscall(__NR_delete_module, MODULE_NAME, O_NONBLOCK);
}

static void load(const char *path)
{
	int fd = open_path_or_exit(path, O_RDONLY);

	TEST_ASSERT(!syscall(__NR_finit_module, fd, "", 0),
		    "finit_module(%s): errno %d", path, errno);
	close(fd);
}

int main(int argc, char *argv[])
{
	const char *path = argc > 1 ? argv[1] : MODULE_PATH;
	int cycles = argc > 2 ? atoi(argv[2]) : CYCLES;
	struct kvm_vm *vms[NR_VMS], *plain, *opted;
	u64 supported;
	int i;

	supported = kvm_check_cap(KVM_CAP_X86_VCOUNTERS);
	TEST_REQUIRE(supported);
	TEST_REQUIRE(!access(path, R_OK));

	/* Many VMs, every other one opted in, freed in creation order. */
	for (i = 0; i < NR_VMS; i++)
		vms[i] = create_vm(i & 1);
	for (i = 0; i < NR_VMS; i++)
		kvm_vm_free(vms[i]);

	/* An opted-in VM pins the module, a plain one does not. */
	plain = create_vm(false);
	opted = create_vm(true);
	TEST_ASSERT(unload() == -1 && errno == EWOULDBLOCK,
		    "rmmod with an opted-in VM alive: errno %d", errno);
	TEST_ASSERT_EQ(kvm_check_cap(KVM_CAP_X86_VCOUNTERS), supported);
	kvm_vm_free(opted);
	TEST_ASSERT(!unload(), "rmmod with only a plain VM alive: errno %d", errno);

	/* KVM without the extension: no capability, the plain VM runs on. */
	TEST_ASSERT_EQ(kvm_check_cap(KVM_CAP_X86_VCOUNTERS), 0);
	TEST_ASSERT_EQ(vm_check_cap(plain, KVM_CAP_X86_VCOUNTERS), 0);
	kvm_vm_free(plain);

	/* Load and unload again, VMs alive or not; end loaded. */
	for (i = 0; i < cycles; i++) {
		load(path);
		TEST_ASSERT_EQ(kvm_check_cap(KVM_CAP_X86_VCOUNTERS), supported);
		plain = create_vm(false);
		opted = create_vm(true);
		TEST_ASSERT(unload() == -1 && errno == EWOULDBLOCK,
			    "cycle %d: rmmod with an opted-in VM alive: errno %d", i, errno);
		kvm_vm_free(opted);
		TEST_ASSERT(!unload(), "cycle %d: rmmod with a plain VM alive: errno %d", i, errno);
		kvm_vm_free(plain);
	}
	load(path);
	pr_info("%d load/unload cycles\n", cycles);
	return 0;
}
