// SPDX-License-Identifier: GPL-2.0-only
/*
 * Runs in the L2 guest of the l2 layer: perf inside the VM. Counts, with
 * perf_event_open() on this task, user mode only, the retired
 * instructions and branches of a loop of LOOP iterations (DEC and JNZ:
 * two instructions and one branch each), and prints
 *
 *   L2-PERF <event> <iterations> <count>
 *
 * for "instructions" and "branches"; the L1 side checks the counts.
 */
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOOP	1000000UL

static void loop(unsigned long n)
{
	asm volatile("1: dec %0\n\tjnz 1b" : "+r"(n) : : "cc");
}

static int count(const char *name, uint64_t config)
{
	struct perf_event_attr attr;
	uint64_t value;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.type = PERF_TYPE_HARDWARE;
	attr.size = sizeof(attr);
	attr.config = config;
	attr.disabled = 1;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	fd = syscall(__NR_perf_event_open, &attr, 0, -1, -1, 0);
	if (fd < 0) {
		perror("perf_event_open");
		printf("L2-PERF %s %lu none\n", name, LOOP);
		return 1;
	}
	ioctl(fd, PERF_EVENT_IOC_RESET, 0);
	ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
	loop(LOOP);
	ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
	if (read(fd, &value, sizeof(value)) != sizeof(value)) {
		perror("read");
		return 1;
	}
	close(fd);
	printf("L2-PERF %s %lu %lu\n", name, LOOP, (unsigned long)value);
	return 0;
}

int main(void)
{
	int r = count("instructions", PERF_COUNT_HW_INSTRUCTIONS);

	r |= count("branches", PERF_COUNT_HW_BRANCH_INSTRUCTIONS);
	fflush(stdout);
	return r;
}
