// SPDX-License-Identifier: GPL-2.0-only
/*
 * NMI readers of the host's APERF/MPERF while guest values come and go.
 *
 * On each CPU, a cycles event samples the host (exclude_guest) and its
 * PMI, an NMI, reads a group with perf's msr/mperf/ and msr/aperf/ events,
 * which read the host's view from NMI context. Meanwhile two RUN vCPUs
 * migrate between the CPUs and an ENTRY vCPU writes its MPERF in a loop
 * (a load and a put at every entry and exit, and a one-counter window at
 * every WRMSR): NMIs land in and around the switch windows. Every sample
 * a CPU took must show both counts at least the previous one: the msr PMU
 * adds the difference between two reads, so a host view that stepped
 * back would show as a count that went down (mod 2^64).
 *
 * This cannot aim an NMI at one instruction: it reports how many NMI
 * reads it saw. Without host APERFMPERF (no hardware modes, no msr
 * events) the test skips.
 *
 * It found that an NMI landing after a switch had read the MSRs, but
 * before it published what the host continues from, read the MSRs as
 * usual, later than the switch: the host's view then stepped back by the
 * NMI's own duration (0.4 to 11 million cycles under TCG, in 6 of 10 runs
 * of 3 s with RUN and ENTRY vCPUs together). An NMI there now returns
 * what the last reader on that CPU got.
 *
 *   vcounters_nmi_test [SECONDS [all|run|entry|none]]   (default 3 all)
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <asm/msr-index.h>
#include <linux/perf_event.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "vcounters.h"

#define RING_PAGES	128
#define SAMPLE_PERIOD	2000000
#define MSR_PMU_APERF	0x01
#define MSR_PMU_MPERF	0x02

static volatile bool stop;

/*
 * A reader of the other CPU's counters through /dev/cpu/N/msr (an IPI:
 * IRQ context, not NMI): they never go down either.
 */
static void *msr_reader(void *arg)
{
	long cpu = (long)arg;
	char path[64];
	u64 a, m, la = 0, lm = 0, n = 0;
	int fd;

	snprintf(path, sizeof(path), "/dev/cpu/%ld/msr", cpu);
	fd = open(path, O_RDONLY);
	TEST_ASSERT(fd >= 0, "open %s", path);
	pin_self_to_cpu(cpu ^ 1);
	while (!stop) {
		TEST_ASSERT(pread(fd, &m, 8, MSR_IA32_MPERF) == 8, "read");
		TEST_ASSERT(pread(fd, &a, 8, MSR_IA32_APERF) == 8, "read");
		TEST_ASSERT(m >= lm && a >= la,
			    "IPI reader of CPU %ld, read %lu: MPERF %lu after %lu, APERF %lu after %lu",
			    cpu, n, m, lm, a, la);
		lm = m;
		la = a;
		n++;
		usleep(200);
	}
	ksft_print_msg("IPI reader CPU %ld: %lu reads\n", cpu, n);
	return NULL;
}

static void guest_busy(void)
{
	volatile u64 i;

	for (;;) {
		GUEST_SYNC(rdmsr(MSR_IA32_MPERF));
		for (i = 0; i < 200000; i++)
			;
	}
}

static void guest_writer(void)
{
	u64 i;

	for (i = 0;; i++) {
		wrmsr(MSR_IA32_MPERF, i << 24);
		if (!(i % 64))
			GUEST_SYNC(i);
	}
}

struct runner {
	struct kvm_vcpu *vcpu;
	pthread_t thread;
	bool migrate;
};

static void *run_vcpu(void *arg)
{
	struct runner *r = arg;
	struct ucall uc;
	u64 n = 0;

	pin_self_to_cpu(0);
	while (!stop) {
		if (r->migrate)
			pin_self_to_cpu(n & 1);
		vcpu_run(r->vcpu);
		if (get_ucall(r->vcpu, &uc) == UCALL_ABORT)
			REPORT_GUEST_ASSERT(uc);
		TEST_ASSERT_EQ(uc.cmd, UCALL_SYNC);
		n++;
	}
	return NULL;
}

static int perf_open(struct perf_event_attr *attr, int cpu, int group)
{
	int fd = syscall(__NR_perf_event_open, attr, -1, cpu, group, 0);

	TEST_ASSERT(fd >= 0, "perf_event_open(type %u config %llu) on CPU %d: errno %d",
		    attr->type, attr->config, cpu, errno);
	return fd;
}

struct sampler {
	int leader;
	struct perf_event_mmap_page *ring;
};

static struct sampler open_sampler(int cpu, int msr_type)
{
	struct perf_event_attr cycles = {
		.size = sizeof(cycles),
		.type = PERF_TYPE_HARDWARE,
		.config = PERF_COUNT_HW_CPU_CYCLES,
		.sample_period = SAMPLE_PERIOD,
		.sample_type = PERF_SAMPLE_READ,
		.read_format = PERF_FORMAT_GROUP,
		.disabled = 1,
		.exclude_guest = 1,
	};
	struct perf_event_attr msr = {
		.size = sizeof(msr),
		.type = msr_type,
		.read_format = PERF_FORMAT_GROUP,
	};
	struct sampler s;

	s.leader = perf_open(&cycles, cpu, -1);
	msr.config = MSR_PMU_MPERF;
	perf_open(&msr, cpu, s.leader);
	msr.config = MSR_PMU_APERF;
	perf_open(&msr, cpu, s.leader);
	s.ring = mmap(NULL, (RING_PAGES + 1) * getpagesize(), PROT_READ | PROT_WRITE,
		      MAP_SHARED, s.leader, 0);
	TEST_ASSERT(s.ring != MAP_FAILED, "mmap of the ring on CPU %d", cpu);
	return s;
}

/* Walks the samples of @s: returns how many, asserts they never go down. */
static u64 check_samples(struct sampler *s, int cpu, u64 *lost)
{
	u8 *data = (u8 *)s->ring + s->ring->data_offset;
	u64 size = s->ring->data_size, head = READ_ONCE(s->ring->data_head);
	u64 tail = s->ring->data_tail, samples = 0, last[2] = { 0, 0 };

	TEST_ASSERT(head - tail <= size, "CPU %d: the ring wrapped", cpu);
	while (tail < head) {
		struct perf_event_header *h = (void *)(data + tail % size);

		TEST_ASSERT(tail % size + h->size <= size, "CPU %d: a record wraps", cpu);
		if (h->type == PERF_RECORD_SAMPLE) {
			/* { u64 nr; u64 values[nr]; }: cycles, MPERF, APERF */
			u64 *v = (u64 *)(h + 1);

			TEST_ASSERT_EQ(v[0], 3);
			TEST_ASSERT(v[2] >= last[0] && v[3] >= last[1],
				    "CPU %d, sample %lu: MPERF %lu after %lu, APERF %lu after %lu",
				    cpu, samples, v[2], last[0], v[3], last[1]);
			last[0] = v[2];
			last[1] = v[3];
			samples++;
		} else if (h->type == PERF_RECORD_LOST) {
			*lost += ((u64 *)(h + 1))[1];
		}
		tail += h->size;
	}
	return samples;
}

int main(int argc, char *argv[])
{
	int seconds = argc > 1 ? atoi(argv[1]) : 3;
	/* What runs: all (default), run, entry, or none (the samplers only). */
	bool no_guests = argc > 2 && !strcmp(argv[2], "none");
	bool only_run = argc > 2 && !strcmp(argv[2], "run");
	bool only_entry = argc > 2 && !strcmp(argv[2], "entry");
	struct kvm_vcpu *run_vcpus[2], *entry_vcpu;
	struct runner r[3] = {};
	struct sampler s[2];
	struct kvm_vm *vm_run, *vm_entry;
	u64 samples[2], lost = 0;
	int msr_type, cpu, i;
	FILE *f;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_X86_VCOUNTERS) & KVM_VCOUNTERS_APERFMPERF);
	__TEST_REQUIRE(vcounters_host_has_aperfmperf(),
		       "needs host APERFMPERF (RUN/ENTRY and perf's msr events)");
	f = fopen("/sys/bus/event_source/devices/msr/type", "r");
	__TEST_REQUIRE(f, "needs perf's msr PMU");
	TEST_ASSERT_EQ(fscanf(f, "%d", &msr_type), 1);
	fclose(f);

	for (cpu = 0; cpu < 2; cpu++)
		s[cpu] = open_sampler(cpu, msr_type);

	vm_run = vcounters_vm_create(KVM_VCOUNTERS_MODE_RUN, 2, run_vcpus, guest_busy);
	vm_entry = vcounters_vm_create(KVM_VCOUNTERS_MODE_ENTRY, 1, &entry_vcpu, guest_writer);
	r[0] = (struct runner){ .vcpu = run_vcpus[0], .migrate = true };
	r[1] = (struct runner){ .vcpu = run_vcpus[1], .migrate = true };
	r[2] = (struct runner){ .vcpu = entry_vcpu, .migrate = true };

	for (cpu = 0; cpu < 2; cpu++)
		TEST_ASSERT(!ioctl(s[cpu].leader, PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP),
			    "enable the sampler on CPU %d", cpu);
	pthread_t readers[2];

	for (i = 0; i < 2; i++)
		pthread_create(&readers[i], NULL, msr_reader, (void *)(long)i);
	for (i = 0; i < 3 && !no_guests; i++)
		if (!(only_run && i == 2) && !(only_entry && i < 2))
			pthread_create(&r[i].thread, NULL, run_vcpu, &r[i]);
	if (no_guests) {
		u64 end = rdtsc() + (u64)seconds * 2500000000ull;

		while (rdtsc() < end)
			;
	} else {
		sleep(seconds);
	}
	stop = true;
	for (i = 0; i < 3 && !no_guests; i++)
		if (!(only_run && i == 2) && !(only_entry && i < 2))
			pthread_join(r[i].thread, NULL);
	for (i = 0; i < 2; i++)
		pthread_join(readers[i], NULL);
	for (cpu = 0; cpu < 2; cpu++)
		ioctl(s[cpu].leader, PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP);

	for (cpu = 0; cpu < 2; cpu++)
		samples[cpu] = check_samples(&s[cpu], cpu, &lost);
	ksft_print_msg("NMI reads: CPU0 %lu, CPU1 %lu (%lu lost); %lu ENTRY switches\n",
		       samples[0], samples[1], lost,
		       vcpu_get_stat(entry_vcpu, vcounters_msr_accesses_entry) / 4);
	TEST_ASSERT(samples[0] + samples[1] > 100, "too few NMI reads to say anything");
	kvm_vm_free(vm_run);
	kvm_vm_free(vm_entry);
	return 0;
}
