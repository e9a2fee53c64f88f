package methods

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/config"
)

func TestBuildLocal(t *testing.T) {
	cfg, err := config.Parse([]byte(`
users: [{name: alice, password: pw}]
aaa: {login: [local], ppp: [local]}
`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Build(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Login.Methods) != 1 || len(l.PPP.Methods) != 1 || len(l.ARAP.Methods) != 0 {
		t.Fatalf("lists: login %d ppp %d arap %d methods", len(l.Login.Methods), len(l.PPP.Methods), len(l.ARAP.Methods))
	}
	if _, err := l.Login.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "pw"}); err != nil {
		t.Errorf("alice through the login list: %v", err)
	}
	if _, err := l.Login.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "nope"}); !errors.Is(err, aaa.ErrRejected) {
		t.Errorf("wrong password through the login list: %v, want a reject", err)
	}
}

func TestBuildUnknownMethod(t *testing.T) {
	cfg := &config.Config{AAA: config.AAA{Login: []string{"kerberos"}}}
	_, err := Build(cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), `aaa.login: method "kerberos"`) {
		t.Fatalf("err = %v, want one naming aaa.login and the method", err)
	}
}
