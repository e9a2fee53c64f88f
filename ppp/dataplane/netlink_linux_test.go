package dataplane

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// nlWrap puts a body in a netlink message header.
func nlWrap(typ, flags uint16, seq uint32, body []byte) []byte {
	b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body)+3)
	binary.NativeEndian.PutUint32(b[0:], uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	b = append(b, body...)
	for len(b)%nlAlign != 0 {
		b = append(b, 0)
	}
	return b
}

func TestRouteMessageRoundTrip(t *testing.T) {
	r := route{dst: netip.MustParsePrefix("203.0.113.0/24"), src: netip.MustParseAddr("198.51.100.1"),
		mtu: 576, ifindex: 7, table: 1000, proto: 241}
	dgram := append(nlWrap(unix.RTM_NEWROUTE, unix.NLM_F_MULTI, 5, r.body(false)),
		nlWrap(unix.RTM_NEWROUTE, unix.NLM_F_MULTI, 5, route{dst: netip.MustParsePrefix("0.0.0.0/0"), ifindex: 2, table: 254, proto: 4, priority: 100}.body(true))...)
	dgram = append(dgram, nlWrap(unix.NLMSG_DONE, unix.NLM_F_MULTI, 5, make([]byte, 4))...)
	msgs, err := parseNetlink(dgram)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("parse: %d messages, %v", len(msgs), err)
	}
	got, ok := parseRoute(msgs[0])
	want := route{dst: r.dst, ifindex: 7, table: 1000, proto: 241}
	if !ok || got != want {
		t.Errorf("route = %+v %v, want %+v", got, ok, want)
	}
	a := parseAttrs(msgs[0].data[unix.SizeofRtMsg:])
	if m := parseAttrs(a[unix.RTA_METRICS]); binary.NativeEndian.Uint32(m[unix.RTAX_MTU]) != 576 {
		t.Errorf("MTU metric %x", a[unix.RTA_METRICS])
	}
	if s := a[unix.RTA_PREFSRC]; netip.AddrFrom4([4]byte(s)) != r.src {
		t.Errorf("preferred source %v", s)
	}
	got, ok = parseRoute(msgs[1])
	if !ok || got.dst.Bits() != 0 || got.priority != 100 || got.table != 254 {
		t.Errorf("default route = %+v %v", got, ok)
	}
	if msgs[1].data[6] != unix.RT_SCOPE_NOWHERE {
		t.Errorf("delete scope %d, want RT_SCOPE_NOWHERE to match any", msgs[1].data[6])
	}
	if _, ok := parseRoute(msgs[2]); ok {
		t.Error("NLMSG_DONE parsed as a route")
	}
}

func TestParseNlError(t *testing.T) {
	req := nlWrap(unix.RTM_NEWROUTE, unix.NLM_F_REQUEST, 9, make([]byte, 12))
	errno := make([]byte, 4)
	eexist := -int32(unix.EEXIST)
	binary.NativeEndian.PutUint32(errno, uint32(eexist))
	tlv := attrs(nil).add(unix.NLMSGERR_ATTR_MSG, []byte("File exists\x00"))
	tests := []struct {
		name  string
		flags uint16
		data  []byte
		errno unix.Errno
		msg   string
	}{
		{"ack", 0, append(make([]byte, 4), req...), 0, ""},
		{"plain error", 0, append(append([]byte(nil), errno...), req...), unix.EEXIST, ""},
		{"extended ack", unix.NLM_F_ACK_TLVS, append(append(append([]byte(nil), errno...), req...), tlv...), unix.EEXIST, "File exists"},
		{"capped extended ack", unix.NLM_F_ACK_TLVS | unix.NLM_F_CAPPED, append(append(append([]byte(nil), errno...), req[:unix.SizeofNlMsghdr]...), tlv...), unix.EEXIST, "File exists"},
		{"truncated", 0, []byte{1, 2}, unix.EBADMSG, "short error message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, msg := parseNlError(nlMsg{typ: unix.NLMSG_ERROR, flags: tt.flags, data: tt.data})
			if e != tt.errno || msg != tt.msg {
				t.Errorf("= %v %q, want %v %q", e, msg, tt.errno, tt.msg)
			}
		})
	}
}

// FuzzNetlink: whatever a netlink socket hands us parses without panicking or reading past
// the message it came in.
func FuzzNetlink(f *testing.F) {
	r := route{dst: netip.MustParsePrefix("10.0.0.0/8"), mtu: 1400, ifindex: 3, table: 254, proto: 241}
	f.Add(nlWrap(unix.RTM_NEWROUTE, unix.NLM_F_MULTI, 1, r.body(false)))
	f.Add(nlWrap(unix.NLMSG_ERROR, unix.NLM_F_ACK_TLVS, 1, append(make([]byte, 4), nlWrap(1, 0, 1, nil)...)))
	f.Add(nlWrap(unix.NLMSG_DONE, 0, 1, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, _ := parseNetlink(b)
		total := 0
		for _, m := range msgs {
			total += unix.SizeofNlMsghdr + len(m.data)
			parseRoute(m)
			parseNlError(m)
			parseAttrs(m.data)
		}
		if total > len(b) {
			t.Fatalf("messages cover %d octets of %d", total, len(b))
		}
	})
}
