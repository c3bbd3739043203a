# Shared by the l2 layer's scripts, which run in the test guest (L1) and
# boot a Linux L2 under KVM with the project's QEMU: all of it in /job/l2
# (scripts/make-l2), QEMU with its own loader and libraries since the test
# guest has busybox only.
L2=/job/l2
SPLAT=$(cat /etc/splat-pattern)

fail() {
	echo "FAILED: $*"
	exit 1
}

# QEMU through its own loader and libraries, and the machine of every L2
# (split into words where used; /job/l2 has no spaces).
QEMU="$L2/ld-linux-x86-64.so.2 --library-path $L2 $L2/qemu -L $L2"
L2_MACHINE="-cpu host -smp 1 -m 512 -display none -nodefaults -no-reboot
	-name l2,debug-threads=on -kernel $L2/bzImage -initrd $L2/initrd"

# QEMU for the L2, with ARGS after the common ones.
l2_qemu() {
	$QEMU $L2_MACHINE "$@"
}

# The kernel command line of an L2 running JOB (tests/l2/init).
l2_append() {
	echo "console=ttyS0 quiet loglevel=5 panic=-1 l2.job=$1"
}

# An HMP monitor on fifos: QEMU gets "-chardev pipe,id=mon,path=$1 -mon mon".
mon_create() {
	rm -f "$1.in" "$1.out"
	mkfifo "$1.in" "$1.out"
}

# Sends one HMP command and prints what came back within SECONDS (default 3).
mon_cmd() {
	local mon=$1 cmd=$2 secs=${3:-3}
	timeout "$secs" cat "$mon.out" > "$mon.reply" &
	local reader=$!
	echo "$cmd" > "$mon.in"
	# The reader ends killed by timeout, which the shell would report.
	wait $reader 2>/dev/null
	tr -d '\r' < "$mon.reply"
}

# Once the L2 powered off in a QEMU started with -no-shutdown and a
# monitor MON: its "info stats vcpu" (query-stats) into FILE, then quits.
stats_and_quit() {
	# Give poweroff time to stop the vCPU.
	sleep 2
	mon_cmd "$1" "info stats vcpu" > "$2"
	mon_cmd "$1" quit 1 > /dev/null
}

# The value of the stat NAME in FILE, an "info stats vcpu" reply.
vcpu_stat() {
	sed -n "s/.* $2 [^0-9]*\([0-9]*\).*/\1/p" "$1" | head -n1
}

# Waits up to SECONDS for LOG to have N lines starting with PREFIX.
wait_lines() {
	local log=$1 prefix=$2 n=$3 secs=$4 i=0 have
	while :; do
		have=$(grep -c "^$prefix" "$log" 2>/dev/null || true)
		[ "${have:-0}" -lt "$n" ] || return 0
		i=$((i + 1))
		[ $i -le $((secs * 5)) ] || return 1
		sleep 0.2
	done
}

# The value after "PREFIX " on the last such line of LOG.
l2_value() {
	sed -n "s/^$2 //p" "$1" | tr -d '\r' | tail -n1
}

# turbostat's summary value of COLUMN in the lines of LOG starting with
# PREFIX (its header, then the summary row).
turbostat_col() {
	tr -d '\r' < "$1" | awk -v p="$2" -v c="$3" '
		$1 == p && !col { for (i = 2; i <= NF; i++) if ($i == c) col = i; next }
		$1 == p && col { print $col; exit }'
}

# The /proc directory of the vCPU thread of the one L2 running
# (debug-threads=on names it "CPU 0/KVM"). Shell builtins only: a fork per
# task would take longer than what is measured.
vcpu_thread() {
	local t comm
	for t in /proc/[0-9]*/task/*; do
		read -r comm < "$t/comm" 2>/dev/null || continue
		[ "$comm" != "CPU 0/KVM" ] || { echo "$t"; return; }
	done
}

# The CPU time in clock ticks (USER_HZ, 100 on x86) the thread of /proc
# directory DIR had so far: utime and stime, the 12th and 13th fields
# after "(comm) ", as comm has a space.
thread_ticks() {
	local stat
	read -r stat < "$1/stat"
	set -- ${stat##*) }
	shift 11
	echo $(($1 + $2))
}

# Seconds since the test guest booted.
uptime_s() {
	cut -d' ' -f1 /proc/uptime
}

# Whether A is within PCT percent of B (integers or decimals).
within() {
	awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d * 100 <= b * p) }'
}

# Fails if the L2's kernel log in LOG has an oops, WARNING, lockdep or
# KASAN report.
no_l2_splat() {
	if grep -Eq "$SPLAT" "$1"; then
		grep -E -A20 "$SPLAT" "$1" | head -40
		fail "the L2 kernel reported a problem"
	fi
}
