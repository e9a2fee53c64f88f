package dynauth

import (
	"testing"

	"layeh.com/radius"

	"github.com/dialback/nas/dictionaries/rfc"
)

// FuzzParseRequest feeds raw datagrams: nothing may panic, and whatever is accepted must be a
// Disconnect- or CoA-Request that answer can encode.
func FuzzParseRequest(f *testing.F) {
	f.Add(request(f, CodeDisconnectRequest, 1, testSecret, true, str(rfc.UserName_Type, "alice")))
	f.Add(request(f, CodeCoARequest, 2, testSecret, true, str(rfc.AcctSessionID_Type, "1"), integer(rfc.SessionTimeout_Type, 60)))
	f.Add(request(f, CodeDisconnectRequest, 3, testSecret, false, str(rfc.UserName_Type, "alice")))
	f.Add([]byte{40, 1, 0, 20})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b, []byte(testSecret))
		if err != nil {
			return
		}
		checkParsed(t, r)
	})
}

// FuzzRequestAttributes wraps fuzzed attribute bytes in a correctly signed request, so that
// the attribute reading behind the authenticators is explored too.
func FuzzRequestAttributes(f *testing.F) {
	seed := func(code radius.Code, attrs ...*radius.AVP) {
		b := request(f, code, 1, testSecret, true, attrs...)
		f.Add(byte(code), b[20+18:]) // the attributes after the Message-Authenticator
	}
	seed(CodeDisconnectRequest, str(rfc.UserName_Type, "alice"), integer(rfc.NASPort_Type, 3))
	seed(CodeCoARequest, str(rfc.AcctSessionID_Type, "1"), integer(rfc.SessionTimeout_Type, 60), integer(rfc.IdleTimeout_Type, 5))
	seed(CodeCoARequest, str(rfc.UserName_Type, "a"), integer(rfc.ServiceType_Type, 17), str(rfc.ProxyState_Type, "p"))
	seed(CodeDisconnectRequest, attr(rfc.FramedIPAddress_Type, []byte{10, 0, 0, 1}), integer(rfc.EventTimestamp_Type, 1))
	f.Fuzz(func(t *testing.T, code byte, attrs []byte) {
		c := CodeDisconnectRequest
		if code%2 == 1 {
			c = CodeCoARequest
		}
		parsed, err := radius.ParseAttributes(attrs)
		if err != nil || len(attrs) > 4000 {
			return
		}
		b := request(t, c, 1, testSecret, true, parsed...)
		r, err := ParseRequest(b, []byte(testSecret))
		if err != nil {
			// Only a second Message-Authenticator may make a signed request fail to verify.
			for _, a := range parsed {
				if a.Type == rfc.MessageAuthenticator_Type {
					return
				}
			}
			t.Fatalf("a correctly signed request was discarded: %v", err)
		}
		checkParsed(t, r)
	})
}

func checkParsed(t *testing.T, r *Request) {
	t.Helper()
	if r.Code != CodeDisconnectRequest && r.Code != CodeCoARequest {
		t.Fatalf("accepted code %v", r.Code)
	}
	if r.Problem == 0 && r.Match.Empty() {
		t.Fatal("no problem reported for a request that names no session")
	}
	if r.Problem == CauseUnsupportedService && r.Code == CodeDisconnectRequest {
		t.Fatal("405 would answer a Disconnect-Request (RFC 5176 §3.5 forbids it)")
	}
	if r.Problem != 0 && r.Why == "" {
		t.Fatal("a problem without a reason")
	}
	for _, code := range []radius.Code{r.Code + 1, r.Code + 2} {
		b, err := answer(r, []byte(testSecret), code, r.Problem)
		if err != nil {
			t.Fatalf("answer: %v", err)
		}
		if _, err := radius.Parse(b, []byte(testSecret)); err != nil {
			t.Fatalf("answer does not parse: %v", err)
		}
	}
}
