// SPDX-License-Identifier: GPL-2.0-only
/*
 * Races on the opt-in, ROUNDS times (argv[1], default 100), each with
 * three threads released together:
 *  - KVM_ENABLE_CAP(KVM_CAP_X86_VCOUNTERS) on a fresh VM, in each mode the
 *    host offers in turn (with host APERFMPERF, as in the hw layer, RUN and
 *    ENTRY too, so that module loads and unloads also race the host's
 *    switch set-up and tear-down);
 *  - KVM_CREATE_VCPU on the same VM;
 *  - rmmod kvm_vcounters (O_NONBLOCK), every ROUNDS/10th round.
 * SPEC: a racing KVM_CREATE_VCPU either loses to the cap (the vCPU is then
 * the extension's: GET_VCPU_STATE reports the feature) or the cap fails
 * with -EBUSY (and the vCPU is not the extension's); with the module gone
 * the cap fails with -EINVAL, and while a VM is attached the module cannot
 * go. Kernel reports (lockdep, KASAN, WARN) fail the run through the test
 * runner. The module is loaded again whenever a round removed it.
 *
 *   vcounters_race_test [ROUNDS] [MODULE_PATH]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kvm_vcounters.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

#define MODULE_NAME	"kvm_vcounters"
#define MODULE_PATH	"/lib/modules/extra/kvm_vcounters.ko"
#define ROUNDS		100

static pthread_barrier_t start;

struct round {
	struct kvm_vm *vm;
	u32 mode;
	bool unload;
	int cap_ret, cap_errno;
	int vcpu_fd, vcpu_errno;
	int unload_ret, unload_errno;
};

static void *enable_cap(void *arg)
{
	struct round *r = arg;

	pthread_barrier_wait(&start);
	r->cap_ret = __vcounters_enable(r->vm, KVM_VCOUNTERS_APERFMPERF, r->mode);
	r->cap_errno = errno;
	return NULL;
}

static void *create_vcpu(void *arg)
{
	struct round *r = arg;

	pthread_barrier_wait(&start);
	r->vcpu_fd = __vm_ioctl(r->vm, KVM_CREATE_VCPU, (void *)0ul);
	r->vcpu_errno = errno;
	return NULL;
}

static void *unload(void *arg)
{
	struct round *r = arg;

	pthread_barrier_wait(&start);
	if (r->unload) {
		r->unload_ret = syscall(__NR_delete_module, MODULE_NAME, O_NONBLOCK);
		r->unload_errno = errno;
	}
	return NULL;
}

static void load(const char *path)
{
	int fd = open_path_or_exit(path, O_RDONLY);

	TEST_ASSERT(!syscall(__NR_finit_module, fd, "", 0), "finit_module(%s): errno %d",
		    path, errno);
	close(fd);
}

static bool module_loaded(void)
{
	return !access("/sys/module/" MODULE_NAME, F_OK);
}

int main(int argc, char *argv[])
{
	int rounds = argc > 1 ? atoi(argv[1]) : ROUNDS;
	const char *path = argc > 2 ? argv[2] : MODULE_PATH;
	static const u32 modes[] = {
		KVM_VCOUNTERS_MODE_EMULATE, KVM_VCOUNTERS_MODE_AUTO,
		KVM_VCOUNTERS_MODE_RUN, KVM_VCOUNTERS_MODE_ENTRY,
	};
	int cap_won = 0, vcpu_won = 0, unloaded = 0, refused = 0, i;
	int nr_modes;

	TEST_REQUIRE(module_loaded());
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_APERFMPERF);
	nr_modes = vcounters_host_has_aperfmperf() ? ARRAY_SIZE(modes) : 2;
	pthread_barrier_init(&start, NULL, 3);

	for (i = 0; i < rounds; i++) {
		struct round r = {
			.mode = modes[i % nr_modes],
			.unload = i % (rounds / 10 ? rounds / 10 : 1) == 0,
		};
		struct kvm_vcounters_vcpu_state st = {};
		pthread_t t[3];
		int sr;

		r.vm = vm_create_barebones();
		pthread_create(&t[0], NULL, enable_cap, &r);
		pthread_create(&t[1], NULL, create_vcpu, &r);
		pthread_create(&t[2], NULL, unload, &r);
		for (sr = 0; sr < 3; sr++)
			pthread_join(t[sr], NULL);

		TEST_ASSERT(r.vcpu_fd >= 0, "round %d: KVM_CREATE_VCPU: errno %d", i,
			    r.vcpu_errno);
		sr = ioctl(r.vcpu_fd, KVM_VCOUNTERS_GET_VCPU_STATE, &st);
		if (!r.cap_ret) {
			/* The cap won: the vCPU came after it, and is ours. */
			TEST_ASSERT(!sr && st.features == KVM_VCOUNTERS_APERFMPERF,
				    "round %d: cap enabled, vCPU state %d (errno %d), features %llx",
				    i, sr, errno, st.features);
			TEST_ASSERT(!r.unload || r.unload_ret,
				    "round %d: rmmod succeeded, yet the cap attached the VM", i);
			cap_won++;
			/* An attached VM pins the module. */
			TEST_ASSERT(syscall(__NR_delete_module, MODULE_NAME, O_NONBLOCK) == -1 &&
				    errno == EWOULDBLOCK,
				    "round %d: rmmod with an opted-in VM: errno %d", i, errno);
		} else if (r.cap_errno == EBUSY) {
			/* The vCPU won: the VM stays out, the vCPU is not ours. */
			TEST_ASSERT(sr || st.features == 0,
				    "round %d: cap refused, but the vCPU has features %llx", i,
				    st.features);
			vcpu_won++;
		} else {
			/* Only without the module: KVM's answer to an unknown cap. */
			TEST_ASSERT(r.cap_errno == EINVAL && r.unload && !r.unload_ret,
				    "round %d: cap errno %d (rmmod %d, errno %d)", i, r.cap_errno,
				    r.unload_ret, r.unload_errno);
		}
		if (r.unload) {
			if (r.unload_ret)
				refused++;
			else
				unloaded++;
		}
		close(r.vcpu_fd);
		kvm_vm_free(r.vm);
		if (!module_loaded())
			load(path);
	}
	ksft_print_msg("%d modes, %d rounds: cap first %d, vCPU first %d; rmmod done %d, refused %d\n",
		       nr_modes, rounds, cap_won, vcpu_won, unloaded, refused);
	TEST_ASSERT(cap_won + vcpu_won > 0, "no round reached the module");
	return 0;
}
