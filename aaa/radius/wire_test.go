package radius

import (
	"testing"

	"layeh.com/radius"

	"github.com/dialback/nas/dictionaries/rfc"
)

// testRequest is a signed Access-Request to check replies against.
func testRequest(t testing.TB) []byte {
	p := radius.New(radius.CodeAccessRequest, []byte(testSecret))
	p.Identifier = 17
	p.Attributes = radius.Attributes{newMessageAuthenticator()}
	must(rfc.UserName_AddString(p, "alice"))
	b, err := encodeSigned(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzVerifyReply feeds arbitrary datagrams to the reply check: it must not panic, and
// anything it accepts must be an answer of an allowed code carrying a Message-Authenticator.
func FuzzVerifyReply(f *testing.F) {
	req := testRequest(f)
	f.Add(buildReply(req, testSecret, radius.CodeAccessAccept, true))
	f.Add(buildReply(req, testSecret, radius.CodeAccessReject, true,
		&radius.AVP{Type: rfc.ReplyMessage_Type, Attribute: radius.Attribute("no")}))
	f.Add(buildReply(req, testSecret, radius.CodeAccessAccept, false))
	f.Add([]byte{2, 17, 0, 20})
	rules := replyRules{
		codes:     []radius.Code{radius.CodeAccessAccept, radius.CodeAccessReject, radius.CodeAccessChallenge},
		requireMA: true,
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := verifyReply(req, b, []byte(testSecret), rules)
		if err != nil {
			if p != nil {
				t.Fatal("packet and error")
			}
			return
		}
		if p.Identifier != req[1] {
			t.Fatalf("identifier %d", p.Identifier)
		}
		if p.Code != radius.CodeAccessAccept && p.Code != radius.CodeAccessReject && p.Code != radius.CodeAccessChallenge {
			t.Fatalf("code %v", p.Code)
		}
		if _, ok := p.Lookup(rfc.MessageAuthenticator_Type); !ok {
			t.Fatal("accepted without Message-Authenticator")
		}
	})
}

func TestSignedRequestLayout(t *testing.T) {
	b := testRequest(t)
	if radius.Type(b[20]) != rfc.MessageAuthenticator_Type || b[21] != 18 {
		t.Fatalf("first attribute is %d/%d, want Message-Authenticator", b[20], b[21])
	}
	p, err := radius.Parse(b, []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if !requestMAOK(p) {
		t.Error("Message-Authenticator does not verify")
	}
	b[30] ^= 1
	p, _ = radius.Parse(b, []byte(testSecret))
	if requestMAOK(p) {
		t.Error("a changed Message-Authenticator still verifies: the test helper checks nothing")
	}
}
