package config

import (
	"testing"
)

func TestPSTNExposeValidation(t *testing.T) {
	tests := []struct {
		name, yaml, path, msg string
	}{
		{"number missing", doc(baseLines, baseScripts, "pstn: {expose: [{link: /tmp/a}]}"), "pstn.expose[0].number", "is required"},
		{"number not digits", doc(baseLines, baseScripts, "pstn: {expose: [{number: \"555-2000\", link: /tmp/a}]}"), "pstn.expose[0].number", "not a subscriber number"},
		{"number of a line", doc(baseLines, baseScripts, "pstn: {expose: [{number: \"5551003\", link: /tmp/a}]}"), "pstn.expose[0].number", "TTY 3's own number"},
		{"number twice", doc(baseLines, baseScripts, "pstn: {expose: [{number: \"5552000\", link: /tmp/a}, {number: \"5552000\", link: /tmp/b}]}"), "pstn.expose[1].number", "already pstn.expose[0]"},
		{"link missing", doc(baseLines, baseScripts, "pstn: {expose: [{number: \"5552000\"}]}"), "pstn.expose[0].link", "is required"},
		{"link relative", doc(baseLines, baseScripts, "pstn: {expose: [{number: \"5552000\", link: a}]}"), "pstn.expose[0].link", "not an absolute path"},
		{"link twice", doc(baseLines, baseScripts, "pstn: {expose: [{number: \"5552000\", link: /tmp/a}, {number: \"5552001\", link: /tmp//a}]}"), "pstn.expose[1].link", "already pstn.expose[0]'s link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOneError(t, tt.yaml, tt.path, tt.msg)
		})
	}
	c, err := Parse([]byte(doc(baseLines, baseScripts, "pstn: {expose: [{number: \"5552000\", link: /tmp/a}, {number: \"5552001\", link: /tmp/b}]}")))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.PSTN.Expose) != 2 || c.PSTN.Expose[1] != (PSTNExpose{Number: "5552001", Link: "/tmp/b"}) {
		t.Errorf("expose = %+v", c.PSTN.Expose)
	}
}
