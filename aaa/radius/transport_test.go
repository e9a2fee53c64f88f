package radius

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/dictionaries/rfc"
)

// TestReplyVerification drives the client against a raw server that answers with crafted
// datagrams. Each reply that must be discarded is followed, when good is set, by a correct
// one: the exchange must skip the bad datagram and take the good one.
func TestReplyVerification(t *testing.T) {
	accept := func(req []byte) []byte { return buildReply(req, testSecret, radius.CodeAccessAccept, true) }
	tests := []struct {
		name   string
		legacy bool
		reply  func(req []byte) []byte
		good   bool // follow with a correct reply
		accept bool // the outcome
	}{
		{"signed accept", false, accept, false, true},
		{"signed reject", false, func(req []byte) []byte {
			return buildReply(req, testSecret, radius.CodeAccessReject, true)
		}, false, false},
		{"missing Message-Authenticator", false, func(req []byte) []byte {
			return buildReply(req, testSecret, radius.CodeAccessAccept, false)
		}, false, false},
		{"missing Message-Authenticator, legacy server", true, func(req []byte) []byte {
			return buildReply(req, testSecret, radius.CodeAccessAccept, false)
		}, false, true},
		{"tampered Message-Authenticator", false, func(req []byte) []byte {
			b := buildReply(req, testSecret, radius.CodeAccessAccept, true)
			b[22] ^= 1
			return fixResponseAuth(req, b)
		}, false, false},
		{"tampered Message-Authenticator, legacy server", true, func(req []byte) []byte {
			b := buildReply(req, testSecret, radius.CodeAccessAccept, true)
			b[37] ^= 0x80
			return fixResponseAuth(req, b)
		}, false, false},
		{"attribute changed after signing", false, func(req []byte) []byte {
			b := buildReply(req, testSecret, radius.CodeAccessAccept, true,
				&radius.AVP{Type: rfc.SessionTimeout_Type, Attribute: radius.NewInteger(60)})
			b[len(b)-1] = 0xff // Session-Timeout grows; Response Authenticator recomputed, HMAC not
			return fixResponseAuth(req, b)
		}, false, false},
		{"bad Response Authenticator", false, func(req []byte) []byte {
			b := buildReply(req, testSecret, radius.CodeAccessAccept, true)
			b[4] ^= 1
			return b
		}, false, false},
		{"wrong secret", false, func(req []byte) []byte {
			return buildReply(req, "not-the-secret", radius.CodeAccessAccept, true)
		}, false, false},
		{"two Message-Authenticators", false, func(req []byte) []byte {
			b := buildReply(req, testSecret, radius.CodeAccessAccept, true)
			b = append(b, b[20:38]...)
			binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
			return fixResponseAuth(req, b)
		}, false, false},
		{"garbage then good", false, func(req []byte) []byte { return []byte("garbage, not RADIUS at all........") }, true, true},
		{"runt then good", false, func(req []byte) []byte { return []byte{2, req[1], 0} }, true, true},
		{"length past datagram then good", false, func(req []byte) []byte {
			b := accept(req)
			binary.BigEndian.PutUint16(b[2:4], uint16(len(b)+10))
			return b
		}, true, true},
		{"broken attribute then good", false, func(req []byte) []byte {
			b := accept(req)
			b[21] = 200 // Message-Authenticator length past the packet
			return fixResponseAuth(req, b)
		}, true, true},
		{"wrong identifier then good", false, func(req []byte) []byte {
			r := append([]byte(nil), req...)
			r[1]++
			return buildReply(r, testSecret, radius.CodeAccessAccept, true)
		}, true, true},
		{"accounting response to access request then good", false, func(req []byte) []byte {
			return buildReply(req, testSecret, radius.CodeAccountingResponse, false)
		}, true, true},
		{"padding after Length is ignored", false, func(req []byte) []byte {
			return append(accept(req), 0, 0, 0, 0)
		}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each discarded case waits out its timeouts
			raw := newRawServer(t, func(req []byte) [][]byte {
				out := [][]byte{tc.reply(req)}
				if tc.good {
					out = append(out, accept(req))
				}
				return out
			})
			srv := raw.server()
			srv.Legacy = tc.legacy
			c := newClient(t, Config{Servers: []Server{srv}})
			p, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "x"})
			switch {
			case tc.accept && err != nil:
				t.Fatalf("err = %v, want accept", err)
			case !tc.accept && err == nil:
				t.Fatalf("accepted (%+v), want the reply discarded", p)
			case !tc.accept && tc.name != "signed reject" && !errors.Is(err, aaa.ErrUnreachable):
				t.Fatalf("err = %v, want unreachable (the bad reply discarded)", err)
			}
		})
	}
}

// fixResponseAuth recomputes the Response Authenticator of a reply edited after encoding
// (MD5 over the reply with the Request Authenticator in place, then the secret), so that only
// the Message-Authenticator can catch the edit.
func fixResponseAuth(req, b []byte) []byte {
	copy(b[4:20], req[4:20])
	sum := md5.Sum(append(append([]byte(nil), b...), testSecret...))
	copy(b[4:20], sum[:])
	return b
}

func TestWrongSecretIsUnreachableAndExplained(t *testing.T) {
	srv := newLabServer(t)
	cfgSrv := srv.server()
	cfgSrv.Timeout = 100 * time.Millisecond
	cfgSrv.Secret = "not-" + testSecret
	c := newClient(t, Config{Servers: []Server{cfgSrv}})
	_, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "wonderland"})
	if !errors.Is(err, aaa.ErrUnreachable) {
		t.Fatalf("err = %v, want unreachable", err)
	}
	// layeh's server cannot tell a wrong secret on an Access-Request; our check of its request
	// Message-Authenticator does, and it drops the request.
	if srv.badMA.Load() == 0 {
		t.Error("the server did not see a bad Message-Authenticator")
	}
}

func TestWrongSecretReplyDiscarded(t *testing.T) {
	raw := newRawServer(t, func(req []byte) [][]byte {
		return [][]byte{buildReply(req, "other", radius.CodeAccessAccept, true)}
	})
	c := newClient(t, Config{Servers: []Server{raw.server()}})
	_, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "x"})
	if !errors.Is(err, aaa.ErrUnreachable) || !strings.Contains(err.Error(), "Response Authenticator") {
		t.Fatalf("err = %v, want unreachable naming the Response Authenticator", err)
	}
}

func TestRetransmitSameIdentifier(t *testing.T) {
	var mu sync.Mutex
	var seen [][]byte
	raw := newRawServer(t, func(req []byte) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, req)
		if len(seen) < 3 {
			return nil // lose the first two
		}
		return [][]byte{buildReply(req, testSecret, radius.CodeAccessAccept, true)}
	})
	s := raw.server()
	s.Timeout = 30 * time.Millisecond
	s.Retransmits = 2
	c := newClient(t, Config{Servers: []Server{s}})
	if _, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "x"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("%d datagrams, want 3", len(seen))
	}
	for _, b := range seen[1:] {
		if string(b) != string(seen[0]) {
			t.Error("a retransmitted Access-Request differs from the first (RFC 2865 §2.5: same ID and authenticator)")
		}
	}
}

func TestFailover(t *testing.T) {
	for _, down := range []string{"closed port", "silent"} {
		t.Run(down, func(t *testing.T) {
			good := newLabServer(t)
			var first Server
			var seen func() int64
			if down == "closed port" {
				first = Server{Address: "127.0.0.1", AuthPort: closedPort(t), AcctPort: closedPort(t), Secret: testSecret, Timeout: 50 * time.Millisecond, Retransmits: 1}
				seen = func() int64 { return -1 }
			} else {
				raw := newRawServer(t, nil)
				first = raw.server()
				first.Timeout = 50 * time.Millisecond
				first.Retransmits = 1
				seen = raw.seen.Load
			}
			c := newClient(t, Config{Servers: []Server{first, good.server()}})
			p, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "wonderland"})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(p.Source, ":"+itoa(good.port)) {
				t.Errorf("Source = %q, want the second server", p.Source)
			}
			if n := seen(); n != -1 && n != 2 {
				t.Errorf("silent server saw %d datagrams, want 2 (one retransmit)", n)
			}
			// Without a dead-time, the next request tries the first server again.
			if _, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "wonderland"}); err != nil {
				t.Fatal(err)
			}
			if n := seen(); n != -1 && n != 4 {
				t.Errorf("silent server saw %d datagrams after two requests, want 4", n)
			}
		})
	}
}

func TestAllServersDown(t *testing.T) {
	raw := newRawServer(t, nil)
	s := raw.server()
	s.Timeout = 20 * time.Millisecond
	c := newClient(t, Config{Servers: []Server{s}, DeadTime: time.Hour})
	_, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "x"})
	if !errors.Is(err, aaa.ErrUnreachable) {
		t.Fatalf("err = %v", err)
	}
	// Dead now: the next request answers at once without sending anything.
	before := raw.seen.Load()
	_, err = c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "x"})
	if !errors.Is(err, aaa.ErrUnreachable) || !strings.Contains(err.Error(), "marked dead") {
		t.Fatalf("err = %v, want all servers dead", err)
	}
	if raw.seen.Load() != before {
		t.Error("a request went to a dead server")
	}
	st := c.Status()
	if !st[0].Dead || st[0].Port != "auth" || st[1].Dead {
		t.Errorf("status = %+v, want auth dead and acct alive", st)
	}
}

func TestDeadTimeAndStatusServerRevival(t *testing.T) {
	a := newLabServer(t)
	b := newLabServer(t)
	a.down.Store(true)
	sa := a.server()
	sa.Timeout = 100 * time.Millisecond
	c := newClient(t, Config{Servers: []Server{sa, b.server()}, DeadTime: 100 * time.Millisecond})
	auth := func() *aaa.Profile {
		t.Helper()
		p, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "wonderland"})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := auth(); !strings.HasSuffix(p.Source, itoa(b.port)) {
		t.Fatalf("Source = %q, want b", p.Source)
	}
	if !c.Status()[0].Dead {
		t.Fatal("a not marked dead")
	}
	// While a is dead, requests go straight to b.
	seen := a.access.Load()
	auth()
	if a.access.Load() != seen {
		t.Error("a request went to the dead server")
	}
	// a keeps being probed while down and stays dead.
	eventually(t, 2*time.Second, "a Status-Server probe to the down server", func() bool { return a.status.Load() >= 1 })
	if !c.Status()[0].Dead {
		t.Fatal("a revived without answering")
	}
	// a comes back: the next probe revives it, and requests go to it first again.
	a.down.Store(false)
	eventually(t, 2*time.Second, "a to be revived", func() bool { return !c.Status()[0].Dead })
	if a.badMA.Load() != 0 {
		t.Error("a Status-Server without a correct first Message-Authenticator")
	}
	if p := auth(); !strings.HasSuffix(p.Source, itoa(a.port)) {
		t.Errorf("Source = %q, want a again", p.Source)
	}
}

func TestNoStatusServerRevivesAfterDeadTime(t *testing.T) {
	raw := newRawServer(t, nil)
	s := raw.server()
	s.Timeout = 20 * time.Millisecond
	s.NoStatusServer = true
	c := newClient(t, Config{Servers: []Server{s}, DeadTime: 50 * time.Millisecond})
	c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "x"})
	if !c.Status()[0].Dead {
		t.Fatal("not marked dead")
	}
	sent := raw.seen.Load()
	eventually(t, 2*time.Second, "revival at the end of the dead-time", func() bool { return !c.Status()[0].Dead })
	if raw.seen.Load() != sent {
		t.Error("probed a server configured without Status-Server")
	}
}

// TestLateReply: the server answers the first request only after the client gave up on it
// (a reply "ten seconds late" at test scale), right before its answer to the next request.
// The late accept must not be taken for the next user's answer, neither when the next request
// has another Identifier (dropped: nobody waits for it) nor when it has the same one on the
// same socket (perSocket 1 forces that: discarded, its authenticators do not match).
func TestLateReply(t *testing.T) {
	for _, perSocket := range []int{idsPerSocket, 1} {
		t.Run("ids per socket "+itoa(perSocket), func(t *testing.T) {
			var mu sync.Mutex
			var first []byte
			raw := newRawServer(t, func(req []byte) [][]byte {
				mu.Lock()
				defer mu.Unlock()
				if first == nil {
					first = req // no answer in time
					return nil
				}
				return [][]byte{
					buildReply(first, testSecret, radius.CodeAccessAccept, true),
					buildReply(req, testSecret, radius.CodeAccessReject, true),
				}
			})
			s := raw.server()
			s.Retransmits = 0 // a retransmission would count as the next request
			c := newClient(t, Config{Servers: []Server{s}})
			c.auth[0].perSocket = perSocket
			_, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "wonderland"})
			if !errors.Is(err, aaa.ErrUnreachable) {
				t.Fatalf("err = %v, want unreachable", err)
			}
			p, err := c.Authenticate(context.Background(), &aaa.Request{User: "bob", Password: "nope"})
			if !errors.Is(err, aaa.ErrRejected) {
				t.Fatalf("p=%+v err=%v: want bob's reject, not alice's late accept", p, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if perSocket == 1 && first[1] != 0 {
				t.Errorf("first request had Identifier %d; the test wants both on 0", first[1])
			}
		})
	}
}

func TestContextDeadline(t *testing.T) {
	raw := newRawServer(t, nil)
	s := raw.server()
	s.Timeout = time.Hour
	c := newClient(t, Config{Servers: []Server{s}, DeadTime: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := c.Authenticate(ctx, &aaa.Request{User: "alice", Password: "x"})
	if !errors.Is(err, aaa.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if c.Status()[0].Dead {
		t.Error("the caller's deadline marked the server dead")
	}
}

func TestCloseWhileInFlight(t *testing.T) {
	raw := newRawServer(t, nil)
	s := raw.server()
	s.Timeout = time.Hour
	c := newClient(t, Config{Servers: []Server{s}})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "x"})
		errc <- err
	}()
	eventually(t, 2*time.Second, "the request to be sent", func() bool { return raw.seen.Load() == 1 })
	c.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) || !errors.Is(err, aaa.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	if _, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "x"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: err = %v", err)
	}
}

func TestUnknownVendorAttribute(t *testing.T) {
	srv := newLabServer(t)
	srv.setHandler(func(r *radius.Request) *radius.Packet {
		q := r.Response(radius.CodeAccessAccept)
		vsa, _ := radius.NewVendorSpecific(99999, []byte{1, 5, 'a', 'b', 'c'})
		q.Add(rfc.VendorSpecific_Type, vsa)
		// A Cisco VSA whose inner length runs past its end.
		bad, _ := radius.NewVendorSpecific(9, []byte{1, 40, 'x'})
		q.Add(rfc.VendorSpecific_Type, bad)
		q.Add(radius.Type(241), radius.Attribute{1, 2, 3}) // an RFC 6929 extended attribute
		rfc.IdleTimeout_Add(q, 300)
		return q
	})
	c := newClient(t, Config{Servers: []Server{srv.server()}})
	p, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if p.IdleTimeout != 5*time.Minute || p.Callback != nil {
		t.Errorf("profile = %+v", p)
	}
}

// TestManyInFlight keeps more requests in flight to one server than one socket has
// identifiers; every one must get its own answer.
func TestManyInFlight(t *testing.T) {
	srv := newLabServer(t)
	gate := make(chan struct{})
	var waiting atomic.Int64
	srv.setHandler(func(r *radius.Request) *radius.Packet {
		waiting.Add(1)
		<-gate
		q := r.Response(radius.CodeAccessAccept)
		rfc.FilterID_AddString(q, rfc.UserName_GetString(r.Packet))
		return q
	})
	s := srv.server()
	// A burst of 600 datagrams can overflow the server's socket buffer: retransmit (layeh's
	// server drops a duplicate of a request it is still handling).
	s.Timeout = 500 * time.Millisecond
	s.Retransmits = 20
	c := newClient(t, Config{Servers: []Server{s}})
	const n = 600
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := "user" + itoa(i)
			p, err := c.Authenticate(context.Background(), &aaa.Request{User: user, Password: "x"})
			if err == nil && p.Filter != user {
				err = errors.New("answer for " + p.Filter + " given to " + user)
			}
			errs <- err
		}()
	}
	eventually(t, 10*time.Second, "all requests at the server", func() bool { return waiting.Load() >= n })
	if st := c.Status()[0]; st.Sockets != 3 || st.InFlight != n {
		t.Errorf("status = %+v, want %d in flight on 3 sockets", st, n)
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := c.Status()[0]; st.Sockets != 1 || st.InFlight != 0 {
		t.Errorf("status after = %+v, want the extra sockets closed", st)
	}
}

// TestNoLeaks runs 10,000 requests with mixed outcomes (accept, reject, garbage, silence)
// and checks that goroutines and file descriptors return to where they were.
func TestNoLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 requests")
	}
	srv := newLabServer(t)
	var n atomic.Int64
	srv.setHandler(func(r *radius.Request) *radius.Packet {
		switch n.Add(1) % 50 {
		case 0:
			return nil // silence: the client times out
		case 1:
			return r.Response(radius.CodeAccountingResponse) // wrong code: discarded
		}
		return labAuth(r)
	})
	s := srv.server()
	s.Timeout = 20 * time.Millisecond
	runtime.GC()
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	c, err := New(Config{Servers: []Server{s}, Logger: testLogger(), NASIdentifier: "nas-test"})
	if err != nil {
		t.Fatal(err)
	}
	const total, workers = 10000, 64
	var wg sync.WaitGroup
	var accepted, rejected, unreachable atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += workers {
				pw := "wonderland"
				if i%3 == 0 {
					pw = "wrong"
				}
				_, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: pw})
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, aaa.ErrRejected):
					rejected.Add(1)
				case errors.Is(err, aaa.ErrUnreachable):
					unreachable.Add(1)
				default:
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if accepted.Load() == 0 || rejected.Load() == 0 || unreachable.Load() == 0 ||
		accepted.Load()+rejected.Load()+unreachable.Load() != total {
		t.Errorf("accepted %d, rejected %d, unreachable %d", accepted.Load(), rejected.Load(), unreachable.Load())
	}
	if st := c.Status()[0]; st.Sockets > 1 {
		t.Errorf("%d sockets open while idle, want 1", st.Sockets)
	}
	c.Close()
	eventually(t, 5*time.Second, "goroutines and fds back to the baseline", func() bool {
		return runtime.NumGoroutine() <= goroutines && openFDs(t) <= fds
	})
}
