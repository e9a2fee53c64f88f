package tacacs

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	tq "github.com/facebookincubator/tacquito"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/acct"
)

func TestDeliver(t *testing.T) {
	f := newFake()
	srv := startTQ(t, "k", f, nil)
	c := newClient(t, Config{Servers: []Server{tcpServer(srv.addr, "k")}})

	start := time.Unix(1700000000, 0)
	base := acct.Record{
		SessionID: "0000002A-1", Leg: aaa.LegFirst, User: "alice", Service: "ppp", Line: 3,
		PortName: "tty3", CallerID: "5550100", StartTime: start,
		Address: netip.MustParseAddr("10.0.0.9"),
	}
	interim := base
	interim.Type, interim.Time, interim.SessionTime = acct.Interim, start.Add(90*time.Second), 90*time.Second
	interim.InOctets, interim.OutOctets, interim.InPackets, interim.OutPackets = 1000, 2000, 10, 20
	stop := interim
	stop.Type, stop.Time, stop.SessionTime, stop.Cause = acct.Stop, start.Add(125*time.Second), 125500*time.Millisecond, acct.CauseCallback
	exec := acct.Record{Type: acct.Stop, SessionID: "7", Service: "login", Line: 1, Time: start.Add(time.Minute),
		StartTime: start, SessionTime: time.Minute, Cause: acct.CauseUserRequest}
	base.Type, base.Time = acct.Start, start

	tests := []struct {
		rec       acct.Record
		wantFlags tq.AcctRequestFlag
		wantArgs  []string
		wantSvc   tq.AuthenService
	}{
		{base, acctFlagStart, []string{"task_id=0000002A-1", "timezone=UTC", "service=ppp", "protocol=ip", "start_time=1700000000", "addr=10.0.0.9"}, tq.AuthenServicePPP},
		{interim, acctFlagWatchdog | acctFlagStart, []string{"task_id=0000002A-1", "timezone=UTC", "service=ppp", "protocol=ip", "start_time=1700000000", "addr=10.0.0.9",
			"elapsed_time=90", "bytes_in=1000", "bytes_out=2000", "paks_in=10", "paks_out=20"}, tq.AuthenServicePPP},
		{stop, acctFlagStop, []string{"task_id=0000002A-1", "timezone=UTC", "service=ppp", "protocol=ip", "start_time=1700000000", "addr=10.0.0.9",
			"elapsed_time=125", "bytes_in=1000", "bytes_out=2000", "paks_in=10", "paks_out=20", "stop_time=1700000125", "disc-cause=102"}, tq.AuthenServicePPP},
		{exec, acctFlagStop, []string{"task_id=7", "timezone=UTC", "service=shell", "start_time=1700000000",
			"elapsed_time=60", "bytes_in=0", "bytes_out=0", "paks_in=0", "paks_out=0", "stop_time=1700000060", "disc-cause=20"}, tq.AuthenServiceLogin},
	}
	for i, tt := range tests {
		if err := c.Deliver(context.Background(), tt.rec); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		_, _, _, _, accts := f.snapshot()
		got := accts[len(accts)-1]
		if got.Flags != tt.wantFlags || got.Service != tt.wantSvc {
			t.Errorf("record %d: flags %v service %v", i, got.Flags, got.Service)
		}
		if a := argStrings(got.Args); !slices.Equal(a, tt.wantArgs) {
			t.Errorf("record %d: args\n%q\nwant\n%q", i, a, tt.wantArgs)
		}
		wantPort := tt.rec.PortName
		if wantPort == "" {
			wantPort = "tty1"
		}
		if string(got.User) != tt.rec.User || string(got.Port) != wantPort || string(got.RemAddr) != tt.rec.CallerID {
			t.Errorf("record %d: user %q port %q rem_addr %q", i, got.User, got.Port, got.RemAddr)
		}
	}
}

func TestDeliverFailuresAreTemporary(t *testing.T) {
	rec := acct.Record{Type: acct.Start, SessionID: "1", Service: "login", StartTime: time.Now()}

	f := newFake()
	f.setOverride(func(resp tq.Response, req tq.Request) bool {
		reply(resp, tq.NewAcctReply(tq.SetAcctReplyStatus(tq.AcctReplyStatusError), tq.SetAcctReplyServerMsg("disk full")))
		return true
	})
	srv := startTQ(t, "k", f, nil)
	wrong := startTQ(t, "other", newFake(), nil)
	for _, tt := range []struct {
		name string
		srv  Server
	}{
		{"server error", tcpServer(srv.addr, "k")},
		{"wrong secret", tcpServer(wrong.addr, "k")},
		{"no server", tcpServer(deadAddr(t), "k")},
	} {
		c := newClient(t, Config{Servers: []Server{tt.srv}})
		if err := c.Deliver(context.Background(), rec); !errors.Is(err, aaa.ErrUnreachable) || acct.IsPermanent(err) {
			t.Errorf("%s: err = %v, want it to wrap ErrUnreachable", tt.name, err)
		}
	}

	c := newClient(t, Config{Servers: []Server{tcpServer(srv.addr, "k")}})
	if err := c.Deliver(context.Background(), acct.Record{Type: 9}); !acct.IsPermanent(err) || errors.Is(err, aaa.ErrUnreachable) {
		t.Errorf("unencodable record: err = %v, want a permanent error", err)
	}
}

func TestDiscCause(t *testing.T) {
	for c := acct.CauseUserRequest; c <= acct.CauseHostRequest; c++ {
		if discCauseFor("ppp", c) == 0 {
			t.Errorf("cause %v has no disc-cause", c)
		}
	}
	if discCauseFor("ppp", acct.CauseUserRequest) != 45 || discCauseFor("login", acct.CauseUserRequest) != 20 ||
		discCauseFor("login", acct.CauseLostCarrier) != 11 || discCauseFor("login", 0) != 0 {
		t.Error("disc-cause mapping")
	}
}
