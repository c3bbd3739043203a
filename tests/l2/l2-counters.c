// SPDX-License-Identifier: GPL-2.0-only
/*
 * Runs in the L2 guest of the l2 layer: prints this CPU's IA32_MPERF and
 * IA32_APERF as the guest kernel's msr driver reads them, COUNT times
 * (default 1), one line a second, while spinning so that they count:
 *
 *   L2-MSR <mperf> <aperf> end
 *
 * busybox has no rdmsr, and its dd cannot read 8 bytes at an offset.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static uint64_t rdmsr(int fd, unsigned int msr)
{
	uint64_t v;

	if (pread(fd, &v, sizeof(v), msr) != sizeof(v)) {
		perror("pread /dev/cpu/0/msr");
		exit(1);
	}
	return v;
}

/*
 * Reads the pair as MPERF, APERF, MPERF again and reports APERF with the
 * midpoint of the two MPERF reads, taking the tightest of a few tries
 * (turbostat, too, retries a pair whose reads took too long). The two MSRs cannot be read at once: a stall between
 * two plain reads (an interrupt, the host preempting the vCPU, a nested
 * exit) counts on one and not the other, and makes the ratio of the
 * interval ending at that reading low or high by the stall, and the next
 * one off the other way.
 */
#define PAIR_TRIES 10

static void read_pair(int fd, uint64_t *mperf, uint64_t *aperf)
{
	uint64_t best = 0;
	int i;

	for (i = 0; i < PAIR_TRIES; i++) {
		uint64_t m0 = rdmsr(fd, 0xe7);
		uint64_t a = rdmsr(fd, 0xe8);
		uint64_t m1 = rdmsr(fd, 0xe7);

		if (!i || m1 - m0 < best) {
			best = m1 - m0;
			*mperf = m0 + (m1 - m0) / 2;
			*aperf = a;
		}
	}
}

int main(int argc, char **argv)
{
	int i, count = argc > 1 ? atoi(argv[1]) : 1;
	int fd = open("/dev/cpu/0/msr", O_RDONLY);
	cpu_set_t set;

	if (fd < 0) {
		perror("open /dev/cpu/0/msr");
		return 1;
	}
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	for (i = 0; i < count; i++) {
		struct timespec t0, t;
		uint64_t mperf = 0, aperf = 0;

		/*
		 * "end": a line a migration cut short (the rest goes to the
		 * destination's console) is told from a whole one.
		 */
		read_pair(fd, &mperf, &aperf);
		printf("L2-MSR %" PRIu64 " %" PRIu64 " end\n", mperf, aperf);
		fflush(stdout);
		if (i + 1 == count)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do
			clock_gettime(CLOCK_MONOTONIC, &t);
		while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 1000000000L);
	}
	return 0;
}
