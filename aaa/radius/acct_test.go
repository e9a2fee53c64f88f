package radius

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/dictionaries/rfc"
)

var recTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func record(t acct.Type) acct.Record {
	r := acct.Record{
		Seq: 7, Type: t, Time: recTime, SessionID: "0000002A-leg2", MultiSessionID: "0000002A-leg1",
		Leg: aaa.LegCallback, User: "alice", Service: "ppp", Line: 5, PortName: "tty5",
		CallerID: "5551234", CalledID: "5550001", ConnectInfo: "CONNECT 28800",
		Address: netip.MustParseAddr("10.9.8.7"), Class: [][]byte{[]byte("c1"), {0, 1}},
		StartTime: recTime.Add(-90 * time.Minute),
	}
	if t != acct.Start {
		r.SessionTime = 90*time.Minute + 500*time.Millisecond
		r.InOctets = 5<<32 + 1234
		r.OutOctets = 4321
		r.InPackets = 1<<32 + 5 // saturates: packet counters have no gigawords
		r.OutPackets = 77
	}
	if t == acct.Stop {
		r.Cause = acct.CauseCallback
	}
	return r
}

func TestDeliver(t *testing.T) {
	srv := newLabServer(t) // layeh's server drops an Accounting-Request with a bad authenticator
	c := newClient(t, Config{Servers: []Server{srv.server()}, NASIPAddress: netip.MustParseAddr("192.0.2.10"), NASIdentifier: "as5300"})
	c.now = func() time.Time { return recTime.Add(3 * time.Second) }
	for _, typ := range []acct.Type{acct.Start, acct.Interim, acct.Stop} {
		t.Run(typ.String(), func(t *testing.T) {
			if err := c.Deliver(context.Background(), record(typ)); err != nil {
				t.Fatal(err)
			}
			p := srv.lastRequest()
			if p.Code != radius.CodeAccountingRequest {
				t.Fatalf("code %v", p.Code)
			}
			str := map[string][2]string{
				"Acct-Session-Id":       {rfc.AcctSessionID_GetString(p), "0000002A-leg2"},
				"Acct-Multi-Session-Id": {rfc.AcctMultiSessionID_GetString(p), "0000002A-leg1"},
				"User-Name":             {rfc.UserName_GetString(p), "alice"},
				"NAS-Identifier":        {rfc.NASIdentifier_GetString(p), "as5300"},
				"NAS-IP-Address":        {rfc.NASIPAddress_Get(p).String(), "192.0.2.10"},
				"NAS-Port-Id":           {rfc.NASPortID_GetString(p), "tty5"},
				"Calling-Station-Id":    {rfc.CallingStationID_GetString(p), "5551234"},
				"Called-Station-Id":     {rfc.CalledStationID_GetString(p), "5550001"},
				"Connect-Info":          {rfc.ConnectInfo_GetString(p), "CONNECT 28800"},
				"Framed-IP-Address":     {rfc.FramedIPAddress_Get(p).String(), "10.9.8.7"},
			}
			for name, v := range str {
				if v[0] != v[1] {
					t.Errorf("%s = %q, want %q", name, v[0], v[1])
				}
			}
			classes, _ := rfc.Class_Gets(p)
			if len(classes) != 2 || string(classes[0]) != "c1" || string(classes[1]) != "\x00\x01" {
				t.Errorf("Class = %q", classes)
			}
			ints := []struct {
				name string
				t    radius.Type
				want uint32
				ok   bool
			}{
				{"Acct-Status-Type", rfc.AcctStatusType_Type, uint32(typ), true},
				{"NAS-Port", rfc.NASPort_Type, 5, true},
				{"NAS-Port-Type", rfc.NASPortType_Type, uint32(rfc.NASPortType_Value_Async), true},
				{"Service-Type", rfc.ServiceType_Type, uint32(rfc.ServiceType_Value_FramedUser), true},
				{"Framed-Protocol", rfc.FramedProtocol_Type, uint32(rfc.FramedProtocol_Value_PPP), true},
				{"Event-Timestamp", rfc.EventTimestamp_Type, uint32(recTime.Unix()), true},
				{"Acct-Delay-Time", rfc.AcctDelayTime_Type, 3, true},
				{"Acct-Session-Time", rfc.AcctSessionTime_Type, 5400, typ != acct.Start},
				{"Acct-Input-Octets", rfc.AcctInputOctets_Type, 1234, typ != acct.Start},
				{"Acct-Input-Gigawords", rfc.AcctInputGigawords_Type, 5, typ != acct.Start},
				{"Acct-Output-Octets", rfc.AcctOutputOctets_Type, 4321, typ != acct.Start},
				{"Acct-Output-Gigawords", rfc.AcctOutputGigawords_Type, 0, false},
				{"Acct-Input-Packets", rfc.AcctInputPackets_Type, 1<<32 - 1, typ != acct.Start},
				{"Acct-Output-Packets", rfc.AcctOutputPackets_Type, 77, typ != acct.Start},
				{"Acct-Terminate-Cause", rfc.AcctTerminateCause_Type, uint32(rfc.AcctTerminateCause_Value_Callback), typ == acct.Stop},
			}
			for _, tc := range ints {
				a, ok := p.Lookup(tc.t)
				if ok != tc.ok {
					t.Errorf("%s present = %v, want %v", tc.name, ok, tc.ok)
					continue
				}
				if v, _ := radius.Integer(a); ok && v != tc.want {
					t.Errorf("%s = %d, want %d", tc.name, v, tc.want)
				}
			}
		})
	}
}

// TestDeliverResendIsNewPacket: the server ignores the first Accounting-Request; the resend
// carries a larger Acct-Delay-Time and so a new Identifier (RFC 2866 §5.2).
func TestDeliverResendIsNewPacket(t *testing.T) {
	srv := newLabServer(t)
	var mu sync.Mutex
	type seen struct {
		id    byte
		delay uint32
	}
	var got []seen
	srv.setHandler(func(r *radius.Request) *radius.Packet {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, seen{r.Identifier, uint32(rfc.AcctDelayTime_Get(r.Packet))})
		if len(got) < 3 {
			return nil
		}
		return r.Response(radius.CodeAccountingResponse)
	})
	s := srv.server()
	s.Timeout = 30 * time.Millisecond
	s.Retransmits = 2
	c := newClient(t, Config{Servers: []Server{s}})
	var clock sync.Mutex
	now := recTime.Add(10 * time.Second)
	c.now = func() time.Time {
		clock.Lock()
		defer clock.Unlock()
		now = now.Add(2 * time.Second)
		return now
	}
	if err := c.Deliver(context.Background(), record(acct.Stop)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("server saw %d requests, want 3", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].id == got[i-1].id {
			t.Errorf("try %d reused Identifier %d", i+1, got[i].id)
		}
		if got[i].delay <= got[i-1].delay {
			t.Errorf("Acct-Delay-Time did not grow: %v", got)
		}
	}
}

// TestDeliverLateAnswerToEarlierTry: the answer to the first try arrives after the second
// try went out; it acknowledges the record just as well.
func TestDeliverLateAnswerToEarlierTry(t *testing.T) {
	srv := newLabServer(t)
	second := make(chan struct{})
	var mu sync.Mutex
	n := 0
	srv.setHandler(func(r *radius.Request) *radius.Packet {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			<-second // answer the first try only once the second has arrived
			return r.Response(radius.CodeAccountingResponse)
		}
		close(second)
		return nil
	})
	s := srv.server()
	s.Timeout = 50 * time.Millisecond
	s.Retransmits = 1
	c := newClient(t, Config{Servers: []Server{s}})
	if err := c.Deliver(context.Background(), record(acct.Start)); err != nil {
		t.Fatal(err)
	}
}

func TestDeliverErrors(t *testing.T) {
	srv := newLabServer(t)
	c := newClient(t, Config{Servers: []Server{srv.server()}})
	bad := record(acct.Start)
	bad.SessionID = ""
	unknown := record(acct.Start)
	unknown.Type = 9
	for _, rec := range []acct.Record{bad, unknown} {
		err := c.Deliver(context.Background(), rec)
		if !errors.Is(err, ErrBadRecord) || !acct.IsPermanent(err) || errors.Is(err, aaa.ErrUnreachable) {
			t.Errorf("err = %v, want permanent ErrBadRecord", err)
		}
	}
	if srv.accounting.Load() != 0 {
		t.Error("a bad record was sent")
	}

	raw := newRawServer(t, func(req []byte) [][]byte {
		// A reply signed with the wrong secret, and an Access-Accept: neither acknowledges.
		return [][]byte{
			buildReply(req, "other", radius.CodeAccountingResponse, false),
			buildReply(req, testSecret, radius.CodeAccessAccept, false),
		}
	})
	s := raw.server()
	s.Timeout = 30 * time.Millisecond
	c2 := newClient(t, Config{Servers: []Server{s}})
	err := c2.Deliver(context.Background(), record(acct.Stop))
	if !errors.Is(err, aaa.ErrUnreachable) || errors.Is(err, ErrBadRecord) {
		t.Errorf("err = %v, want temporary (unreachable)", err)
	}
}

func TestDeliverFailover(t *testing.T) {
	good := newLabServer(t)
	down := Server{Address: "127.0.0.1", AuthPort: closedPort(t), AcctPort: closedPort(t), Secret: testSecret, Timeout: 30 * time.Millisecond}
	c := newClient(t, Config{Servers: []Server{down, good.server()}})
	if err := c.Deliver(context.Background(), record(acct.Start)); err != nil {
		t.Fatal(err)
	}
	if good.accounting.Load() != 1 {
		t.Errorf("second server saw %d records", good.accounting.Load())
	}
}

func TestDeliverTooManyClasses(t *testing.T) {
	srv := newLabServer(t)
	c := newClient(t, Config{Servers: []Server{srv.server()}})
	rec := record(acct.Stop)
	rec.Class = nil
	for i := range 20 {
		rec.Class = append(rec.Class, []byte(strings.Repeat(string(rune('a'+i)), 250)))
	}
	if err := c.Deliver(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	classes, _ := rfc.Class_Gets(srv.lastRequest())
	if len(classes) == 0 || len(classes) >= 20 || string(classes[0]) != string(rec.Class[0]) {
		t.Errorf("%d Class attributes echoed, want the first ones that fit in 4096 octets", len(classes))
	}
}

func TestAccountingOnOff(t *testing.T) {
	srv := newLabServer(t)
	c := newClient(t, Config{Servers: []Server{srv.server()}, NASIdentifier: "as5300"})
	for _, on := range []bool{true, false} {
		if err := c.AccountingOnOff(context.Background(), on); err != nil {
			t.Fatal(err)
		}
		p := srv.lastRequest()
		want := rfc.AcctStatusType_Value_AccountingOn
		if !on {
			want = rfc.AcctStatusType_Value_AccountingOff
		}
		if got := rfc.AcctStatusType_Get(p); got != want || rfc.NASIdentifier_GetString(p) != "as5300" || rfc.AcctSessionID_GetString(p) == "" {
			t.Errorf("on=%v: status %v, NAS-Identifier %q, session %q", on, got, rfc.NASIdentifier_GetString(p), rfc.AcctSessionID_GetString(p))
		}
	}
}

// TestServiceTypeAgreesWithDetailExport: for every service, the Service-Type of the
// Access-Request, of the Accounting-Request, and of aaa/acct's detail export of the same record
// are one value (an EXEC is NAS-Prompt-User everywhere), so that a billing system reading both
// the server's detail file and `nas acct export --format detail` sees one meaning.
func TestServiceTypeAgreesWithDetailExport(t *testing.T) {
	srv := newLabServer(t)
	c := newClient(t, Config{Servers: []Server{srv.server()}, NASIdentifier: "as5300"})
	for _, tc := range []struct {
		service aaa.Service
		want    rfc.ServiceType
	}{
		{aaa.ServiceLogin, rfc.ServiceType_Value_NASPromptUser},
		{aaa.ServicePPP, rfc.ServiceType_Value_FramedUser},
		{aaa.ServiceARAP, rfc.ServiceType_Value_FramedUser},
	} {
		t.Run(string(tc.service), func(t *testing.T) {
			if _, err := c.Authenticate(context.Background(), &aaa.Request{Service: tc.service, User: "alice", Password: "wonderland", Line: 1}); err != nil {
				t.Fatal(err)
			}
			if got := rfc.ServiceType_Get(srv.lastRequest()); got != tc.want {
				t.Errorf("Access-Request Service-Type = %v, want %v", got, tc.want)
			}
			rec := record(acct.Start)
			rec.Service = string(tc.service)
			if err := c.Deliver(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			if got := rfc.ServiceType_Get(srv.lastRequest()); got != tc.want {
				t.Errorf("Accounting-Request Service-Type = %v, want %v", got, tc.want)
			}
			var b bytes.Buffer
			w, err := acct.NewRecordWriter(&b, acct.FormatDetail)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			// The generated String names the value as FreeRADIUS's dictionary does.
			if want := "\tService-Type = " + tc.want.String() + "\n"; !strings.Contains(b.String(), want) {
				t.Errorf("detail export lacks %q:\n%s", want, b.String())
			}
		})
	}
}
