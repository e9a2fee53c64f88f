#!/bin/sh
# init for a user-mode Linux guest that runs the host's pppd once as a PPP caller
# (REFERENCE.md §8). The root file system is the host's, read-only (hostfs); this
# script lives in a per-run host directory next to the files the harness wrote:
#   pppd-options  pppd options, one quoted word a line (pppd's own file syntax)
#   pap-secrets, chap-secrets (optional)  copied into a tmpfs /etc/ppp, mode 600
#   modules       extra kernel modules to load, paths under kernel/ without .ko
#   ip-up         (optional) a shell script run when IPCP is up, as pppd's ip-up
# It reports on the console with lines starting "NAS-UML: ", ends with
# "NAS-UML: pppd-exit=N", and powers the guest off. It must never exit: the
# kernel panics when init dies. The ip-up script's output comes as lines
# "NAS-UML: ip-up: TEXT" and its status as "NAS-UML: ip-up-exit=N".
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

run=${0%/*}
say() { echo "NAS-UML: $*"; }

poweroff() {
	echo o >/proc/sysrq-trigger
	# The power-off runs from a kernel work queue: wait here until it does.
	while :; do sleep 5; done
}

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null # usually mounted by the kernel already
# Copy the run directory's files before any tmpfs goes over a host path (the run
# directory is under the host's TMPDIR, often /tmp): into /dev/nas, on the guest's
# own writable devtmpfs. uml_dir is the run directory too: skip UML's subdirectory.
nas=/dev/nas
mkdir -p $nas
for f in "$run"/*; do
	[ -f "$f" ] || continue
	cp "$f" $nas/ || { say "error: cannot copy $f"; poweroff; }
done
mount -t tmpfs -o mode=755 run /run
mount -t tmpfs -o mode=1777 tmp /tmp
# The host's /etc/ppp says "auth crtscts lock" and carries ip-up scripts: hide it.
mount -t tmpfs -o mode=755 ppp /etc/ppp
for f in pap-secrets chap-secrets; do
	if [ -f $nas/$f ]; then
		cp $nas/$f /etc/ppp/$f && chmod 600 /etc/ppp/$f
		rm -f $nas/$f
	fi
done

# pppd runs /etc/ppp/ip-up with its stdio on /dev/null and does not wait for it
# (only, at its exit, for child-timeout): the wrapper reports on the console, and
# /run/nas-ip-up tells the end of this script to wait for it.
if [ -f $nas/ip-up ]; then
	cat >/etc/ppp/ip-up <<'EOF'
#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
: >/run/nas-ip-up
sh /dev/nas/ip-up "$@" >/tmp/nas-ip-up.out 2>&1 </dev/null
rc=$?
{
	sed 's/^/NAS-UML: ip-up: /' /tmp/nas-ip-up.out
	echo "NAS-UML: ip-up-exit=$rc"
} >/dev/console 2>&1
rm -f /run/nas-ip-up
EOF
	chmod 755 /etc/ppp/ip-up
fi

# modprobe finds nothing here (the host's /lib/modules is another kernel's):
# insmod with full paths, dependencies first.
mods=/usr/lib/uml/modules/$(uname -r)/kernel
for m in lib/crc-ccitt drivers/net/slip/slhc drivers/net/ppp/ppp_generic drivers/net/ppp/ppp_async \
	$(cat $nas/modules 2>/dev/null); do
	f=$mods/$m.ko
	[ -e "$f" ] || f=$f.xz
	insmod "$f" || say "error: insmod $f failed"
done

say pppd-start
# The UML serial line has no modem-control lines: local, nocrtscts; nothing else
# uses the line: nolock.
pppd /dev/ttyS1 115200 nodetach local nocrtscts nolock debug logfd 2 file $nas/pppd-options
rc=$?
# An ip-up still running (pppd waits for it only child-timeout, 5 s) gets as long
# again to report.
n=0
while [ -e /run/nas-ip-up ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
say "pppd-exit=$rc"
poweroff
