// SPDX-License-Identifier: GPL-2.0-only
/*
 * Runs in the L2 guest of the l2 layer: perf inside the VM. Counts, with
 * perf_event_open() on this task, user mode only, the retired
 * instructions and branches of a loop of LOOP iterations (DEC and JNZ:
 * two instructions and one branch each), and prints
 *
 *   L2-PERF <event> <iterations> <count>
 *
 * for "instructions" and "branches"; then samples the loop's branches
 * every PERIOD (perf record's way: a ring buffer, a PMI per overflow) and
 * prints
 *
 *   L2-SAMPLES <iterations> <period> <samples> <lost>
 *
 * the L1 side checks the counts and the samples.
 */
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOOP	1000000UL
#define PERIOD	10000UL
/* The ring buffer's data pages: room for far more samples than LOOP / PERIOD. */
#define DATA_PAGES	8

static void loop(unsigned long n)
{
	asm volatile("1: dec %0\n\tjnz 1b" : "+r"(n) : : "cc");
}

/* A hardware event on this task, user mode, disabled; sampling every @period if not 0. */
static int open_event(uint64_t config, uint64_t period)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.type = PERF_TYPE_HARDWARE;
	attr.size = sizeof(attr);
	attr.config = config;
	attr.sample_period = period;
	attr.sample_type = period ? PERF_SAMPLE_IP : 0;
	attr.disabled = 1;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	return syscall(__NR_perf_event_open, &attr, 0, -1, -1, 0);
}

/* Runs the loop with @fd counting. */
static void run_loop(int fd)
{
	ioctl(fd, PERF_EVENT_IOC_RESET, 0);
	ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
	loop(LOOP);
	ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
}

static int count(const char *name, uint64_t config)
{
	uint64_t value;
	int fd = open_event(config, 0);

	if (fd < 0) {
		perror("perf_event_open");
		printf("L2-PERF %s %lu none\n", name, LOOP);
		return 1;
	}
	run_loop(fd);
	if (read(fd, &value, sizeof(value)) != sizeof(value)) {
		perror("read");
		return 1;
	}
	close(fd);
	printf("L2-PERF %s %lu %lu\n", name, LOOP, (unsigned long)value);
	return 0;
}

/* Samples (PERF_RECORD_SAMPLE) and lost ones (PERF_RECORD_LOST) in @meta's buffer. */
static void walk(struct perf_event_mmap_page *meta, unsigned long *samples,
		 unsigned long *lost)
{
	const char *data = (const char *)meta + meta->data_offset;
	uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t pos;

	*samples = *lost = 0;
	for (pos = meta->data_tail; pos < head;) {
		const struct perf_event_header *h =
			(const void *)(data + pos % meta->data_size);

		if (h->type == PERF_RECORD_SAMPLE)
			(*samples)++;
		else if (h->type == PERF_RECORD_LOST)
			*lost += ((const uint64_t *)(h + 1))[1];
		if (!h->size)
			break;
		pos += h->size;
	}
}

static int sample(void)
{
	int fd = open_event(PERF_COUNT_HW_BRANCH_INSTRUCTIONS, PERIOD);
	long page = sysconf(_SC_PAGESIZE);
	unsigned long samples, lost;
	void *meta;

	if (fd < 0) {
		perror("perf_event_open (sampling)");
		printf("L2-SAMPLES %lu %lu none\n", LOOP, PERIOD);
		return 1;
	}
	meta = mmap(NULL, (1 + DATA_PAGES) * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (meta == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	run_loop(fd);
	walk(meta, &samples, &lost);
	munmap(meta, (1 + DATA_PAGES) * page);
	close(fd);
	printf("L2-SAMPLES %lu %lu %lu %lu\n", LOOP, PERIOD, samples, lost);
	return 0;
}

int main(void)
{
	int r = count("instructions", PERF_COUNT_HW_INSTRUCTIONS);

	r |= count("branches", PERF_COUNT_HW_BRANCH_INSTRUCTIONS);
	r |= sample();
	fflush(stdout);
	return r;
}
