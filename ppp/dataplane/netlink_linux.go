package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A minimal rtnetlink client (RFC 3549; Linux include/uapi/linux/rtnetlink.h): the five
// requests the data plane makes (set a link's MTU and bring it up, add and delete a route,
// add and delete an address) and one dump (routes, to flush ours at start). Requests are
// answered one at a time; the kernel answers each in microseconds.

const nlAlign = 4 // NLMSG_ALIGNTO and RTA_ALIGNTO

func nlAlignOf(n int) int { return (n + nlAlign - 1) &^ (nlAlign - 1) }

// nlMsg is one message of a netlink datagram.
type nlMsg struct {
	typ   uint16
	flags uint16
	seq   uint32
	data  []byte // after the header
}

var errNetlinkTruncated = errors.New("netlink: truncated message")

// parseNetlink splits a datagram into messages (netlink(7): NLMSG_OK / NLMSG_NEXT).
func parseNetlink(b []byte) ([]nlMsg, error) {
	var out []nlMsg
	for len(b) >= unix.SizeofNlMsghdr {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return out, errNetlinkTruncated
		}
		out = append(out, nlMsg{
			typ:   binary.NativeEndian.Uint16(b[4:6]),
			flags: binary.NativeEndian.Uint16(b[6:8]),
			seq:   binary.NativeEndian.Uint32(b[8:12]),
			data:  b[unix.SizeofNlMsghdr:l],
		})
		b = b[min(nlAlignOf(l), len(b)):]
	}
	return out, nil
}

// parseAttrs splits route attributes (RTA_OK / RTA_NEXT); a malformed tail ends the list.
func parseAttrs(b []byte) map[uint16][]byte {
	m := make(map[uint16][]byte)
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if l < unix.SizeofRtAttr || l > len(b) {
			break
		}
		m[binary.NativeEndian.Uint16(b[2:4])&^unix.NLA_F_NESTED] = b[unix.SizeofRtAttr:l]
		b = b[min(nlAlignOf(l), len(b)):]
	}
	return m
}

// netlinkError is the kernel's refusal of a request, with its extended-ack message.
type netlinkError struct {
	Op    string
	Errno unix.Errno
	Msg   string // NLMSGERR_ATTR_MSG, when the kernel gave one
}

func (e *netlinkError) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("netlink %s: %v (%s)", e.Op, e.Errno, e.Msg)
	}
	return fmt.Sprintf("netlink %s: %v", e.Op, e.Errno)
}

func (e *netlinkError) Unwrap() error { return e.Errno }

// parseNlError reads an NLMSG_ERROR payload: the errno (0 for an ack), and the extended-ack
// message after the echoed request when NLM_F_ACK_TLVS is set.
func parseNlError(m nlMsg) (unix.Errno, string) {
	if len(m.data) < 4 {
		return unix.EBADMSG, "short error message"
	}
	errno := unix.Errno(-int32(binary.NativeEndian.Uint32(m.data[0:4])))
	if m.flags&unix.NLM_F_ACK_TLVS == 0 {
		return errno, ""
	}
	rest := m.data[4:]
	if len(rest) < unix.SizeofNlMsghdr {
		return errno, ""
	}
	skip := unix.SizeofNlMsghdr
	if m.flags&unix.NLM_F_CAPPED == 0 {
		skip = int(binary.NativeEndian.Uint32(rest[0:4]))
	}
	if skip < unix.SizeofNlMsghdr || nlAlignOf(skip) > len(rest) {
		return errno, ""
	}
	msg := parseAttrs(rest[nlAlignOf(skip):])[unix.NLMSGERR_ATTR_MSG]
	for len(msg) > 0 && msg[len(msg)-1] == 0 {
		msg = msg[:len(msg)-1]
	}
	return errno, string(msg)
}

type rtnl struct {
	mu  sync.Mutex
	fd  int
	seq uint32
	buf []byte
}

func dialRTNL() (*rtnl, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	// Extended acks turn "invalid argument" into the kernel's reason; older kernels lack them.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	// The kernel answers at once; the timeout only keeps a wedged kernel from hanging a session.
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink socket timeout: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	return &rtnl{fd: fd, buf: make([]byte, 1<<16)}, nil
}

func (c *rtnl) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return nil
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}

// request sends one message and collects the answer: for a dump every message up to
// NLMSG_DONE, otherwise the ack.
func (c *rtnl) request(op string, typ, flags uint16, body []byte) ([]nlMsg, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return nil, fmt.Errorf("netlink %s: socket closed", op)
	}
	c.seq++
	seq := c.seq
	dump := flags&unix.NLM_F_DUMP == unix.NLM_F_DUMP
	if !dump {
		flags |= unix.NLM_F_ACK
	}
	msg := make([]byte, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(msg[0:4], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:6], typ)
	binary.NativeEndian.PutUint16(msg[6:8], flags|unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(msg[8:12], seq)
	copy(msg[unix.SizeofNlMsghdr:], body)
	if err := unix.Sendto(c.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink %s: send: %w", op, err)
	}
	var out []nlMsg
	for {
		n, from, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, fmt.Errorf("netlink %s: receive: %w", op, err)
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // only the kernel answers requests
		}
		msgs, err := parseNetlink(c.buf[:n])
		if err != nil {
			return nil, fmt.Errorf("netlink %s: %w", op, err)
		}
		for _, m := range msgs {
			if m.seq != seq {
				continue // a late answer to an earlier request that timed out
			}
			switch m.typ {
			case unix.NLMSG_ERROR:
				errno, text := parseNlError(m)
				if errno != 0 {
					return nil, &netlinkError{Op: op, Errno: errno, Msg: text}
				}
				return out, nil
			case unix.NLMSG_DONE:
				return out, nil
			default:
				m.data = append([]byte(nil), m.data...) // the buffer is reused
				out = append(out, m)
			}
		}
	}
}

// attrs builds a list of route attributes.
type attrs []byte

func (a attrs) add(typ uint16, data []byte) attrs {
	l := unix.SizeofRtAttr + len(data)
	var h [unix.SizeofRtAttr]byte
	binary.NativeEndian.PutUint16(h[0:2], uint16(l))
	binary.NativeEndian.PutUint16(h[2:4], typ)
	a = append(a, h[:]...)
	a = append(a, data...)
	for len(a)%nlAlign != 0 {
		a = append(a, 0)
	}
	return a
}

func (a attrs) u32(typ uint16, v uint32) attrs {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return a.add(typ, b[:])
}

// structBytes copies a fixed-size kernel header struct (native layout, as netlink wants).
func structBytes[T any](v *T) attrs {
	return append(attrs(nil), unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))...)
}

// setLink sets a link's MTU and brings it up (RTM_NEWLINK on an existing link).
func (c *rtnl) setLink(index, mtu int) error {
	ifi := unix.IfInfomsg{Family: unix.AF_UNSPEC, Index: int32(index), Flags: unix.IFF_UP, Change: unix.IFF_UP}
	body := structBytes(&ifi).u32(unix.IFLA_MTU, uint32(mtu))
	_, err := c.request("set link", unix.RTM_NEWLINK, 0, body)
	return err
}

// route is one of our kernel routes.
type route struct {
	dst     netip.Prefix
	src     netip.Addr // preferred source (RTA_PREFSRC); zero = the kernel's choice
	mtu     int        // RTAX_MTU; 0 = the interface's
	ifindex int
	table   uint32
	proto   uint8
	// priority is RTA_PRIORITY as a dump reported it (for deleting exactly that route).
	priority uint32
}

func (r route) body(del bool) []byte {
	rtm := unix.RtMsg{
		Family:   unix.AF_INET,
		Dst_len:  uint8(r.dst.Bits()),
		Table:    unix.RT_TABLE_UNSPEC,
		Protocol: r.proto,
		Scope:    unix.RT_SCOPE_LINK, // a device route: the TUN reaches the peer directly
		Type:     unix.RTN_UNICAST,
	}
	if r.table < 256 {
		rtm.Table = uint8(r.table)
	}
	if del {
		rtm.Scope = unix.RT_SCOPE_NOWHERE // match any scope, as ip-route(8) does
	}
	a := structBytes(&rtm)
	a = a.u32(unix.RTA_TABLE, r.table)
	if r.dst.Bits() > 0 {
		d := r.dst.Addr().As4()
		a = a.add(unix.RTA_DST, d[:])
	}
	if r.ifindex > 0 {
		a = a.u32(unix.RTA_OIF, uint32(r.ifindex))
	}
	if r.priority > 0 {
		a = a.u32(unix.RTA_PRIORITY, r.priority)
	}
	if !del {
		if r.src.IsValid() {
			s := r.src.As4()
			a = a.add(unix.RTA_PREFSRC, s[:])
		}
		if r.mtu > 0 {
			m := attrs(nil).u32(unix.RTAX_MTU, uint32(r.mtu))
			a = a.add(unix.RTA_METRICS|unix.NLA_F_NESTED, m)
		}
	}
	return a
}

func (c *rtnl) addRoute(r route) error {
	// EXCL: never replace a route someone else owns (an operator's default route, say).
	_, err := c.request("add route "+r.dst.String(), unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, r.body(false))
	return err
}

func (c *rtnl) delRoute(r route) error {
	_, err := c.request("delete route "+r.dst.String(), unix.RTM_DELROUTE, 0, r.body(true))
	return err
}

// routes dumps the IPv4 routes of table with protocol proto.
func (c *rtnl) routes(table uint32, proto uint8) ([]route, error) {
	rtm := unix.RtMsg{Family: unix.AF_INET}
	msgs, err := c.request("dump routes", unix.RTM_GETROUTE, unix.NLM_F_DUMP, structBytes(&rtm))
	if err != nil {
		return nil, err
	}
	var out []route
	for _, m := range msgs {
		if r, ok := parseRoute(m); ok && r.table == table && r.proto == proto {
			out = append(out, r)
		}
	}
	return out, nil
}

// parseRoute reads an RTM_NEWROUTE message of a dump.
func parseRoute(m nlMsg) (route, bool) {
	if m.typ != unix.RTM_NEWROUTE || len(m.data) < unix.SizeofRtMsg {
		return route{}, false
	}
	family, dstLen, table, proto := m.data[0], int(m.data[1]), uint32(m.data[4]), m.data[5]
	if family != unix.AF_INET || dstLen > 32 {
		return route{}, false
	}
	a := parseAttrs(m.data[unix.SizeofRtMsg:])
	if t := a[unix.RTA_TABLE]; len(t) == 4 {
		table = binary.NativeEndian.Uint32(t)
	}
	dst := netip.IPv4Unspecified()
	if d := a[unix.RTA_DST]; len(d) == 4 {
		dst = netip.AddrFrom4([4]byte(d))
	}
	r := route{dst: netip.PrefixFrom(dst, dstLen), table: table, proto: proto}
	if o := a[unix.RTA_OIF]; len(o) == 4 {
		r.ifindex = int(binary.NativeEndian.Uint32(o))
	}
	if p := a[unix.RTA_PRIORITY]; len(p) == 4 {
		r.priority = binary.NativeEndian.Uint32(p)
	}
	return r, true
}

// addr adds or deletes the /32 address a on a link.
func (c *rtnl) addr(del bool, index int, a netip.Addr) error {
	ifa := unix.IfAddrmsg{Family: unix.AF_INET, Prefixlen: 32, Scope: unix.RT_SCOPE_UNIVERSE, Index: uint32(index)}
	b := a.As4()
	body := structBytes(&ifa).add(unix.IFA_LOCAL, b[:]).add(unix.IFA_ADDRESS, b[:])
	if del {
		_, err := c.request("delete address "+a.String(), unix.RTM_DELADDR, 0, body)
		return err
	}
	_, err := c.request("add address "+a.String(), unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, body)
	return err
}
