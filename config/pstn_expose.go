package config

import (
	"path/filepath"
	"strings"
)

// maxSubscriberNumber is the longest number the simulated exchange gives a subscriber.
const maxSubscriberNumber = 32

// validatePSTNExpose checks pstn.expose: numbers the exchange accepts, not taken by a line,
// each exposed once at a link of its own.
func (c *Config) validatePSTNExpose(e *collector) {
	lineNums := map[string]int{}
	for _, t := range c.TTYs() {
		if n, ok := SimNumber(t.Spec.Port); ok {
			lineNums[n] = t.Num
		}
	}
	numbers, links := map[string]int{}, map[string]int{}
	for i, x := range c.PSTN.Expose {
		p := index("pstn.expose", i)
		np, lp := join(p, "number"), join(p, "link")
		switch {
		case x.Number == "":
			e.add(np, "is required: the subscriber number to expose")
		case len(x.Number) > maxSubscriberNumber || strings.Trim(x.Number, "0123456789") != "":
			e.add(np, "%q is not a subscriber number: 1-%d digits", x.Number, maxSubscriberNumber)
		default:
			if tty, ok := lineNums[x.Number]; ok {
				e.add(np, "%q is TTY %d's own number: expose a caller's number", x.Number, tty)
			} else if j, dup := numbers[x.Number]; dup {
				e.add(np, "%q is already pstn.expose[%d]", x.Number, j)
			} else {
				numbers[x.Number] = i
			}
		}
		switch msg := checkDir(x.Link); {
		case x.Link == "":
			e.add(lp, "is required: the path of the symbolic link to the pty")
		case msg != "":
			e.add(lp, "%s", msg)
		default:
			key := filepath.Clean(x.Link)
			if j, dup := links[key]; dup {
				e.add(lp, "%q is already pstn.expose[%d]'s link", x.Link, j)
			} else {
				links[key] = i
			}
		}
	}
}
