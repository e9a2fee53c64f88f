package tacacs

import (
	"bytes"
	"strings"
	"sync"

	tq "github.com/facebookincubator/tacquito"

	"github.com/dialback/nas/aaa"
)

// fakeTACACS is a TACACS+ policy written for the tests, run inside tacquito's Server. It
// records what the client sent so tests can check the wire layout.
type fakeTACACS struct {
	mu       sync.Mutex
	users    map[string]string   // user -> password
	author   map[string][]string // "service/protocol" -> reply args (PASS_ADD); missing = FAIL
	authorSt tq.AuthorStatus     // status for found entries; 0 = PASS_ADD
	// override, if set, handles a packet instead of the policy; it returns false to fall
	// back to the policy.
	override func(resp tq.Response, req tq.Request) bool

	starts   []tq.AuthenStart
	minors   []uint8
	conts    []tq.AuthenContinue
	authors  []tq.AuthorRequest
	accts    []tq.AcctRequest
	mschapOK []byte // expected MS-CHAPv2 START data
}

func newFake() *fakeTACACS {
	return &fakeTACACS{
		users:  map[string]string{"alice": "wonderland", "bob": "builder"},
		author: map[string][]string{},
	}
}

func (f *fakeTACACS) Handle(resp tq.Response, req tq.Request) {
	f.mu.Lock()
	ov := f.override
	f.mu.Unlock()
	if ov != nil && ov(resp, req) {
		return
	}
	switch req.Header.Type {
	case tq.Authenticate:
		f.authenStart(resp, req)
	case tq.Authorize:
		f.authorize(resp, req)
	case tq.Accounting:
		f.account(resp, req)
	}
}

func (f *fakeTACACS) record(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeTACACS) password(user string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.users[user]
	return p, ok
}

func (f *fakeTACACS) authenStart(resp tq.Response, req tq.Request) {
	var s tq.AuthenStart
	if err := tq.Unmarshal(req.Body, &s); err != nil {
		reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusError), tq.SetAuthenReplyServerMsg("not a START")))
		return
	}
	f.record(func() {
		f.starts = append(f.starts, s)
		f.minors = append(f.minors, req.Header.Version.MinorVersion)
	})
	data := []byte(s.Data)
	switch s.Type {
	case tq.AuthenTypeASCII:
		f.asciiUser(resp, string(s.User))
	case tq.AuthenTypePAP:
		pw, ok := f.password(string(s.User))
		f.verdict(resp, ok && pw == string(data))
	case tq.AuthenTypeCHAP:
		pw, ok := f.password(string(s.User))
		if !ok || len(data) < 1+16 {
			f.verdict(resp, false)
			return
		}
		id, chal, r := data[0], data[1:len(data)-16], data[len(data)-16:]
		want := aaa.CHAPMD5Response(id, pw, chal)
		f.verdict(resp, bytes.Equal(want[:], r))
	case tq.AuthenTypeMSCHAPV2:
		f.mu.Lock()
		ok := f.mschapOK != nil && bytes.Equal(f.mschapOK, data)
		f.mu.Unlock()
		if !ok {
			f.verdict(resp, false)
			return
		}
		reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusPass),
			tq.SetAuthenReplyData(tq.AuthenData("S=0123456789ABCDEF0123456789ABCDEF01234567"))))
	default:
		reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusRestart)))
	}
}

func (f *fakeTACACS) verdict(resp tq.Response, pass bool) {
	if pass {
		reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusPass)))
		return
	}
	reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusFail), tq.SetAuthenReplyServerMsg("Login incorrect")))
}

// continuation decodes a CONTINUE, records it and reports whether the client aborted.
func (f *fakeTACACS) continuation(resp tq.Response, req tq.Request) (tq.AuthenContinue, bool) {
	var c tq.AuthenContinue
	if err := tq.Unmarshal(req.Body, &c); err != nil {
		reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusError)))
		return c, false
	}
	f.record(func() { f.conts = append(f.conts, c) })
	if c.Flags.Has(tq.AuthenContinueFlagAbort) {
		return c, false
	}
	return c, true
}

func (f *fakeTACACS) asciiUser(resp tq.Response, user string) {
	if user == "" {
		resp.Next(tq.HandlerFunc(func(resp tq.Response, req tq.Request) {
			c, ok := f.continuation(resp, req)
			if ok {
				f.asciiPass(resp, string(c.UserMessage))
			}
		}))
		reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusGetUser), tq.SetAuthenReplyServerMsg("login: ")))
		return
	}
	f.asciiPass(resp, user)
}

func (f *fakeTACACS) asciiPass(resp tq.Response, user string) {
	resp.Next(tq.HandlerFunc(func(resp tq.Response, req tq.Request) {
		c, ok := f.continuation(resp, req)
		if !ok {
			return
		}
		pw, known := f.password(user)
		f.verdict(resp, known && pw == string(c.UserMessage))
	}))
	reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusGetPass),
		tq.SetAuthenReplyFlag(tq.AuthenReplyFlagNoEcho), tq.SetAuthenReplyServerMsg("secret word: ")))
}

func (f *fakeTACACS) authorize(resp tq.Response, req tq.Request) {
	var a tq.AuthorRequest
	if err := tq.Unmarshal(req.Body, &a); err != nil {
		reply(resp, tq.NewAuthorReply(tq.SetAuthorReplyStatus(tq.AuthorStatusError)))
		return
	}
	var svc, proto string
	for _, arg := range a.Args {
		s := string(arg)
		if v, ok := strings.CutPrefix(s, "service="); ok {
			svc = v
		}
		if v, ok := strings.CutPrefix(s, "protocol="); ok {
			proto = v
		}
	}
	f.mu.Lock()
	f.authors = append(f.authors, a)
	args, ok := f.author[svc+"/"+proto]
	st := f.authorSt
	f.mu.Unlock()
	if !ok {
		reply(resp, tq.NewAuthorReply(tq.SetAuthorReplyStatus(tq.AuthorStatusFail), tq.SetAuthorReplyServerMsg("not for you")))
		return
	}
	if st == 0 {
		st = tq.AuthorStatusPassAdd
	}
	reply(resp, tq.NewAuthorReply(tq.SetAuthorReplyStatus(st), tq.SetAuthorReplyArgs(args...)))
}

func (f *fakeTACACS) account(resp tq.Response, req tq.Request) {
	var a tq.AcctRequest
	if err := tq.Unmarshal(req.Body, &a); err != nil {
		reply(resp, tq.NewAcctReply(tq.SetAcctReplyStatus(tq.AcctReplyStatusError)))
		return
	}
	f.record(func() { f.accts = append(f.accts, a) })
	reply(resp, tq.NewAcctReply(tq.SetAcctReplyStatus(tq.AcctReplyStatusSuccess)))
}

func (f *fakeTACACS) setOverride(o func(resp tq.Response, req tq.Request) bool) {
	f.mu.Lock()
	f.override = o
	f.mu.Unlock()
}

// snapshot copies the recorded requests.
func (f *fakeTACACS) snapshot() (starts []tq.AuthenStart, minors []uint8, conts []tq.AuthenContinue, authors []tq.AuthorRequest, accts []tq.AcctRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append(starts, f.starts...), append(minors, f.minors...), append(conts, f.conts...),
		append(authors, f.authors...), append(accts, f.accts...)
}

func argStrings(args tq.Args) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = string(a)
	}
	return out
}
