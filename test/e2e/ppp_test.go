//go:build linux

package e2e

// End-to-end test of the NAS's PPP against the real pppd 2.4.9 (Debian's `ppp`), run unchanged
// inside user-mode Linux (test/e2e/uml, REFERENCE.md §8). Each guest's /dev/ttyS1 is a host pty
// whose other end is an emulated modem of the simulated telephone network
// (pstn.Exchange.AttachPTY): pppd dials the NAS through it with chat, exactly as it would dial
// an access server through a real modem, and the NAS — the whole session.Server with its line
// workers, autoselect, local AAA, pools and the callback dialler — answers on its own sim lines.
//
// Cases, one guest each and all at once: PAP, CHAP and MS-CHAPv2 logins with IPCP up and an
// address from the pool; a wrong password (pppd exit 19); and `callback NUMBER`: CBCP, pppd
// exits 14, the NAS hangs up and after pppd's 5 s CBCP delay dials back through the network,
// where a second pppd answers the ring (`chat RING ATA CONNECT`), logs in again and gets IPCP
// up. pppd's CCP (deflate and BSD-Compress, offered because the guests load those modules),
// IPv6CP and VJ offers must be rejected without stopping the link.
//
// A successful session ends by the NAS: the lines have absolute-timeout 3s, so the NAS closes
// LCP (Terminate-Request) and hangs up. pppd (with `local`, so blind to DCD) then exits 0, "the
// peer ended an established link"; it reads its own Terminate-Ack back, echoed by its modem in
// command state once the NAS has hung up, and thinks nothing of it.

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialback/nas/config"
	"github.com/dialback/nas/session"
	"github.com/dialback/nas/session/event"
	"github.com/dialback/nas/test/e2e/peer"
	"github.com/dialback/nas/test/e2e/uml"
)

// pppdNAS is the NAS of this test: five lines, PPP with CHAP, MS-CHAPv2 and PAP in that order,
// callback accepted, a pool of ten addresses, and users whose passwords the guests know.
const pppdNAS = `
hostname: nas
lines:
  - lines: 1-5
    port: "sim:555100{n}"
    autoselect: [ppp, during-login]
    flush-at-activation: false
    login: local
    absolute-timeout: 3s
    callback: {forced-wait: 200ms, nodsr-wait: 1s}
    script: {callback: callback}
chat-scripts:
  callback: 'ABORT ERROR ABORT BUSY ABORT "NO ANSWER" ABORT "NO CARRIER" "" "ATZ" OK "ATDT \T" TIMEOUT 30 CONNECT \c'
users:
  - {name: alice, password: wonderland}
  - {name: bob, password: builder}
  - {name: erin, password: windows-dun}
  - {name: dave, password: dave-secret}
  - {name: carol, password: caroline, callback-dialstring: ""}
aaa: {login: [local], ppp: [local]}
ppp:
  authentication: [chap, ms-chap-v2, pap]
  callback: accept
  keepalive: 1s
  local-address: 10.0.0.1
  dns: [10.0.0.53]
  pool: dialin
ip-pools:
  - {name: dialin, start: 10.0.0.10, end: 10.0.0.19}
`

// pppdGuard bounds the whole test; it only fires when something is broken.
const pppdGuard = 90 * time.Second

// pppdCase is one guest dialling one NAS line.
type pppdCase struct {
	name     string
	phone    string // the guest's subscriber number (its modem on a pty)
	line     int    // the NAS line it dials (5551000+line)
	user     string
	secret   string
	auth     string // the protocol the NAS must have authenticated with (auth.ok's detail)
	args     []string
	modules  []string
	wantExit int
}

// The CCP modules make pppd offer compression, which the NAS must refuse.
var pppdCCPModules = []string{"drivers/net/ppp/ppp_deflate", "drivers/net/ppp/bsd_comp"}

func TestPPPDAgainstNAS(t *testing.T) {
	if err := uml.Available(); err != nil {
		peer.Missing(t, "%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pppdGuard)
	defer cancel()

	log := debugLog(t, "NAS")
	cfg, err := config.Parse([]byte(pppdNAS))
	if err != nil {
		t.Fatal(err)
	}
	nas := startSimNAS(ctx, t, cfg, log, session.PPPOptions{}, nil)

	cases := []pppdCase{
		{name: "pap", phone: "5552001", line: 1, user: "alice", secret: "wonderland", auth: "pap",
			args: []string{"refuse-chap", "refuse-mschap", "refuse-mschap-v2"}, modules: pppdCCPModules, wantExit: uml.ExitOK},
		{name: "chap", phone: "5552002", line: 2, user: "bob", secret: "builder", auth: "chap",
			modules: pppdCCPModules, wantExit: uml.ExitOK},
		{name: "mschapv2", phone: "5552003", line: 3, user: "erin", secret: "windows-dun", auth: "ms-chap-v2",
			args: []string{"refuse-chap"}, wantExit: uml.ExitOK},
		{name: "wrong-password", phone: "5552005", line: 5, user: "dave", secret: "not-dave's", auth: "chap",
			wantExit: uml.ExitAuthToPeerFailed},
		{name: "cbcp", phone: "5552004", line: 4, user: "carol", secret: "caroline", auth: "chap",
			args: []string{"callback", "5552004"}, wantExit: uml.ExitCallback},
	}
	type outcome struct {
		res  *uml.Result
		err  error
		back *uml.Result // the callback leg's pppd
		berr error
	}
	out := make([]outcome, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		slave, closePTY, err := nas.x.AttachPTY(c.phone)
		if err != nil {
			t.Fatal(err)
		}
		defer closePTY()
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append([]string{"noauth", "user", c.user, "usepeerdns", "lcp-restart", "1"}, c.args...)
			out[i].res, out[i].err = uml.Run(ctx, uml.Options{
				PTY: slave, PPPDArgs: args, Modules: c.modules,
				Connect: fmt.Sprintf(`chat -v "" ATDT%d CONNECT ""`, 5551000+c.line),
				Secrets: map[string]string{c.user: c.secret},
			})
			if c.wantExit != uml.ExitCallback || out[i].err != nil {
				return
			}
			// pppd does not wait for the call back: a second one answers the ring.
			out[i].back, out[i].berr = uml.Run(ctx, uml.Options{
				PTY: slave, PPPDArgs: []string{"noauth", "user", c.user, "usepeerdns", "lcp-restart", "1"},
				Connect: `chat -v RING ATA CONNECT ""`,
				Secrets: map[string]string{c.user: c.secret},
			})
		}()
	}
	wg.Wait()
	// The last hang-ups follow pppd's exit: wait for every line to be back to idle.
	nas.waitIdle(ctx, t, cfg)
	events := nas.rec.Events()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := out[i]
			if o.err != nil {
				if o.res != nil {
					t.Log(o.res.Log)
				}
				t.Fatalf("guest: %v", o.err)
			}
			defer func() {
				if t.Failed() {
					t.Logf("pppd:\n%s", pppdExchange(o.res.Log))
					if o.back != nil {
						t.Logf("answering pppd:\n%s", pppdExchange(o.back.Log))
					}
				}
			}()
			if o.res.ExitCode != c.wantExit {
				t.Errorf("pppd exit %d, want %d", o.res.ExitCode, c.wantExit)
			}
			switch c.wantExit {
			case uml.ExitAuthToPeerFailed:
				pppdInOrder(t, events, c.line,
					event.Event{Kind: event.AuthFail, User: c.user, Protocol: "ppp", Cause: "rejected", Detail: c.auth},
					event.Event{Kind: event.SessionDown, Protocol: "ppp", Cause: session.CauseAuthFailed},
				)
				if o.res.LocalIP != "" {
					t.Errorf("IPCP came up after a refused login: %s", o.res.LocalIP)
				}
			case uml.ExitCallback:
				pppdCheckCallback(t, events, c, o.res, o.back, o.berr)
			default:
				up := pppdCheckSession(t, events, c, o.res, event.LegFirst)
				if c.modules != nil {
					pppdCheckRejects(t, o.res.Log, true)
				} else if up {
					pppdCheckRejects(t, o.res.Log, false)
				}
			}
		})
	}
	// Every address went back to the pool.
	pl, _ := nas.ppp.Pools().Lookup("dialin")
	if pl.Free() != pl.Size() {
		t.Errorf("addresses still in use after every call: %v", pl.InUse())
	}
}

// pppdCheckSession checks a login that reached IPCP: pppd's addresses, the NAS's events, and the
// NAS ending the session at absolute-timeout. It reports whether IPCP came up.
func pppdCheckSession(t *testing.T, events []event.Event, c pppdCase, res *uml.Result, leg string) bool {
	t.Helper()
	if res.RemoteIP != "10.0.0.1" {
		t.Errorf("pppd's remote address %q, want the NAS's 10.0.0.1", res.RemoteIP)
	}
	local, err := netip.ParseAddr(res.LocalIP)
	if err != nil || local.Less(netip.MustParseAddr("10.0.0.10")) || netip.MustParseAddr("10.0.0.19").Less(local) {
		t.Errorf("pppd's local address %q is not from the pool 10.0.0.10-10.0.0.19", res.LocalIP)
		return false
	}
	if !strings.Contains(res.Log, "primary   DNS address 10.0.0.53") {
		t.Errorf("pppd did not take the DNS server 10.0.0.53 (RFC 1877)")
	}
	line := c.line
	pppdInOrder(t, events, line,
		event.Event{Kind: event.AuthOK, User: c.user, Protocol: "ppp", Leg: leg, Detail: c.auth + " local"},
		event.Event{Kind: event.SessionUp, User: c.user, Protocol: "ppp", Leg: leg, Address: res.LocalIP},
		event.Event{Kind: event.SessionDown, User: c.user, Protocol: "ppp", Leg: leg, Cause: session.CauseSessionTimeout},
		event.Event{Kind: event.LineHangup, Leg: leg},
	)
	if !strings.Contains(res.Log, "LCP terminated by peer") {
		t.Errorf("pppd was not told by the NAS that the session ended")
	}
	return true
}

// pppdCheckRejects checks that pppd's IPCP VJ offer was rejected (and the link came up), and,
// with ccp, that its CCP offer and its IPv6CP were refused by Protocol-Reject.
func pppdCheckRejects(t *testing.T, log string, ccp bool) {
	t.Helper()
	if !regexp.MustCompile(`rcvd \[IPCP ConfRej id=0x[0-9a-f]+ <compress VJ`).MatchString(log) {
		t.Errorf("the NAS did not reject pppd's VJ compression in IPCP")
	}
	protRej := func(proto string) bool {
		return regexp.MustCompile(`rcvd \[LCP ProtRej id=0x[0-9a-f]+ ` + proto).MatchString(log)
	}
	if strings.Contains(log, "sent [IPV6CP ConfReq") && !protRej("80 57") {
		t.Errorf("pppd offered IPv6CP and the NAS did not Protocol-Reject it")
	}
	if ccp {
		if !strings.Contains(log, "sent [CCP ConfReq") {
			t.Errorf("pppd did not offer CCP (the compression modules should make it)")
		} else if !protRej("80 fd") {
			t.Errorf("pppd offered CCP and the NAS did not Protocol-Reject it")
		}
	}
}

// pppdCheckCallback checks a CBCP callback: the first pppd exited 14 after CBCP, the NAS hung up,
// waited at least pppd's 5 s delay and dialled back, and the answering pppd logged in again.
func pppdCheckCallback(t *testing.T, events []event.Event, c pppdCase, first, back *uml.Result, berr error) {
	t.Helper()
	if !strings.Contains(first.Log, "rcvd [CBCP Request") {
		t.Errorf("the NAS sent no CBCP Request")
	}
	if !strings.Contains(first.Log, "sent [CBCP Response id=0x1 < UserDefined delay = 5 number = "+c.phone+">]") {
		t.Errorf("pppd did not answer with a user-specified number %s", c.phone)
	}
	if !strings.Contains(first.Log, "rcvd [CBCP Ack") {
		t.Errorf("the NAS did not acknowledge pppd's CBCP Response")
	}
	if first.LocalIP != "" {
		t.Errorf("IPCP came up on the leg that asked for callback")
	}
	pppdInOrder(t, events, c.line,
		event.Event{Kind: event.AuthOK, User: c.user, Protocol: "ppp", Leg: event.LegFirst},
		event.Event{Kind: event.CallbackScheduled, User: c.user, Protocol: "ppp", Number: c.phone},
		event.Event{Kind: event.SessionDown, User: c.user, Protocol: "ppp", Cause: session.CauseCallback},
		event.Event{Kind: event.LineHangup, Leg: event.LegFirst, Cause: "callback"},
		event.Event{Kind: event.CallbackDialing, Number: c.phone},
		event.Event{Kind: event.CallbackConnected, Number: c.phone},
	)
	var hungUp, dialling time.Time
	for _, e := range events {
		switch {
		case e.Kind == event.LineHangup && e.Line == c.line && e.Cause == "callback" && hungUp.IsZero():
			hungUp = e.Time
		case e.Kind == event.CallbackDialing && e.Number == c.phone && dialling.IsZero():
			dialling = e.Time
		}
	}
	if d := dialling.Sub(hungUp); d < 5*time.Second {
		t.Errorf("dialled %v after the hang-up; pppd asked for a 5 s CBCP delay", d)
	}
	if berr != nil {
		if back != nil {
			t.Logf("answering pppd:\n%s", back.Log)
		}
		t.Fatalf("answering guest: %v", berr)
	}
	if !strings.Contains(back.Log, "RING") {
		t.Errorf("the answering pppd's chat saw no RING")
	}
	if back.ExitCode != uml.ExitOK {
		t.Errorf("answering pppd exit %d, want %d", back.ExitCode, uml.ExitOK)
	}
	pppdCheckSession(t, events, c, back, event.LegCallback)
}

// pppdInOrder checks that events on line matching want appear in that order.
func pppdInOrder(t *testing.T, events []event.Event, line int, want ...event.Event) {
	t.Helper()
	i := 0
	for _, e := range events {
		if i < len(want) && e.Line == line && pppdMatch(e, want[i]) {
			i++
		}
	}
	if i < len(want) {
		var b strings.Builder
		for _, e := range events {
			if e.Line == line {
				fmt.Fprintf(&b, "  %s user=%s proto=%s leg=%s number=%s address=%s cause=%s (%s)\n",
					e.Kind, e.User, e.Protocol, e.Leg, e.Number, e.Address, e.Cause, e.Detail)
			}
		}
		t.Errorf("line %d: event %d of %d not seen: %+v; the line's events:\n%s", line, i+1, len(want), want[i], b.String())
	}
}

func pppdMatch(e, w event.Event) bool {
	return e.Kind == w.Kind && (w.User == "" || e.User == w.User) && (w.Protocol == "" || e.Protocol == w.Protocol) &&
		(w.Leg == "" || e.Leg == w.Leg) && (w.Number == "" || e.Number == w.Number) &&
		(w.Cause == "" || e.Cause == w.Cause) && (w.Address == "" || e.Address == w.Address) &&
		(w.Detail == "" || e.Detail == w.Detail)
}

// pppdExchange is the part of a guest's console worth reading: pppd's packets and verdicts.
func pppdExchange(log string) string {
	var b strings.Builder
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "rcvd [") || strings.Contains(l, "sent [") || strings.Contains(l, "NAS-UML") ||
			strings.Contains(l, "address") || strings.Contains(l, "chat") || strings.Contains(l, "pppd") ||
			strings.Contains(l, "LCP") || strings.Contains(l, "auth") || strings.Contains(l, "callback") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
