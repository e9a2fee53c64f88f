package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

const tunPath = "/dev/net/tun"

// linuxKernel is the Linux side of the plane: the TUN device, and the routes and addresses on
// it, programmed over rtnetlink.
type linuxKernel struct {
	f     *os.File
	name  string
	index int
	nl    *rtnl
	table uint32
	proto uint8
}

// unavailable says whether err means this process may not have a data plane here (no TUN
// driver, no permission) rather than that something is misconfigured.
func unavailable(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOENT) ||
		errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) || errors.Is(err, unix.EROFS)
}

// openKernel creates the TUN interface (IFF_TUN: layer-3 packets; IFF_NO_PI: no 4-octet
// packet-information header, linux Documentation/networking/tuntap.rst), sets its MTU, brings
// it up and flushes routes a previous run left in our table with our protocol.
func openKernel(cfg *Config, log *slog.Logger) (*linuxKernel, error) {
	if !strings.Contains(cfg.Name, "%") {
		if _, err := net.InterfaceByName(cfg.Name); err == nil {
			// A TUN we do not hold (a persistent one, or another program's): its routes and
			// addresses are not ours to inherit.
			return nil, fmt.Errorf("data plane interface %s: %w (delete it with `ip link del %s` or choose another name)",
				cfg.Name, ErrInterfaceExists, cfg.Name)
		}
	}
	// O_CLOEXEC: a child process (a chat script, a hook) holding the descriptor would keep the
	// interface, and its routes, alive after we die.
	fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if unavailable(err) {
			return nil, &UnavailableError{Reason: "cannot open " + tunPath, Err: err}
		}
		return nil, fmt.Errorf("open %s: %w", tunPath, err)
	}
	ifr, err := unix.NewIfreq(cfg.Name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("data plane interface name %q: %w", cfg.Name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		if unavailable(err) {
			return nil, &UnavailableError{Reason: "cannot create TUN interface " + cfg.Name + " (needs CAP_NET_ADMIN)", Err: err}
		}
		return nil, fmt.Errorf("create TUN interface %s: %w", cfg.Name, err)
	}
	k := &linuxKernel{name: ifr.Name(), table: cfg.RouteTable, proto: cfg.RouteProtocol}
	// Non-blocking, so the runtime poller serves reads and Close wakes the reader.
	k.f = os.NewFile(uintptr(fd), tunPath+":"+k.name)
	ifc, err := net.InterfaceByName(k.name)
	if err != nil {
		k.f.Close()
		return nil, fmt.Errorf("data plane interface %s: index: %w", k.name, err)
	}
	k.index = ifc.Index
	// IPCP is IPv4 only: without this the kernel gives the TUN a link-local address and sends
	// router solicitations down it. Best effort: IPv6 may be absent altogether.
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+k.name+"/disable_ipv6", []byte("1"), 0)

	if k.nl, err = dialRTNL(); err != nil {
		k.f.Close()
		return nil, fmt.Errorf("data plane interface %s: %w", k.name, err)
	}
	if err := k.nl.setLink(k.index, cfg.MTU); err != nil {
		k.close()
		if unavailable(err) {
			return nil, &UnavailableError{Reason: "cannot configure interface " + k.name + " (needs CAP_NET_ADMIN)", Err: err}
		}
		return nil, fmt.Errorf("data plane interface %s: set MTU %d and up: %w", k.name, cfg.MTU, err)
	}
	stale, err := k.nl.routes(k.table, k.proto)
	if err != nil {
		k.close()
		return nil, fmt.Errorf("data plane: list routes of protocol %d in table %d: %w", k.proto, k.table, err)
	}
	for _, r := range stale {
		if err := k.nl.delRoute(r); err != nil && !errors.Is(err, unix.ESRCH) {
			k.close()
			if unavailable(err) {
				return nil, &UnavailableError{Reason: "cannot change routes (needs CAP_NET_ADMIN)", Err: err}
			}
			return nil, fmt.Errorf("data plane: flush stale route %v: %w", r.dst, err)
		}
	}
	if len(stale) > 0 {
		log.Warn("data plane: flushed routes a previous run left behind", "routes", len(stale),
			"protocol", k.proto, "table", k.table)
	}
	return k, nil
}

func (k *linuxKernel) Read(b []byte) (int, error)  { return k.f.Read(b) }
func (k *linuxKernel) Write(b []byte) (int, error) { return k.f.Write(b) }
func (k *linuxKernel) Name() string                { return k.name }

func (k *linuxKernel) route(dst netip.Prefix) route {
	return route{dst: dst, ifindex: k.index, table: k.table, proto: k.proto}
}

func (k *linuxKernel) AddRoute(dst netip.Prefix, src netip.Addr, mtu int) error {
	r := k.route(dst)
	r.src, r.mtu = src, mtu
	return k.nl.addRoute(r)
}

func (k *linuxKernel) DelRoute(dst netip.Prefix) error {
	err := k.nl.delRoute(k.route(dst))
	if errors.Is(err, unix.ESRCH) {
		return nil // gone already (someone ran ip route del): the goal is met
	}
	return err
}

func (k *linuxKernel) AddAddr(a netip.Addr) error {
	err := k.nl.addr(false, k.index, a)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

func (k *linuxKernel) DelAddr(a netip.Addr) error {
	err := k.nl.addr(true, k.index, a)
	if errors.Is(err, unix.EADDRNOTAVAIL) {
		return nil
	}
	return err
}

// Close removes the interface (closing the last descriptor of a non-persistent TUN deletes it)
// and with it every route and address on it.
func (k *linuxKernel) Close() error {
	return k.close()
}

func (k *linuxKernel) close() error {
	var errs []error
	if k.nl != nil {
		errs = append(errs, k.nl.close())
	}
	errs = append(errs, k.f.Close())
	return errors.Join(errs...)
}

func newKernel(cfg *Config, log *slog.Logger) (kernel, error) {
	k, err := openKernel(cfg, log)
	if err != nil {
		return nil, err
	}
	return k, nil
}
