package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/dialback/nas/config"
)

// expose puts the configured subscribers of the simulated exchange on host pseudo-terminals
// (pstn.expose) and points each link at its pty, so that programs outside the NAS can dial
// its sim lines. The ptys close with the exchange; the links are left, dangling, for the next
// run to replace.
func (o *portOpener) expose(list []config.PSTNExpose) error {
	for _, x := range list {
		pty, _, err := o.pstn().AttachPTY(x.Number)
		if err != nil {
			return fmt.Errorf("pstn.expose %s: %w", x.Number, err)
		}
		// Replace the link atomically: a program polling it never sees it missing.
		tmp := x.Link + ".new"
		if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("pstn.expose %s: %w", x.Number, err)
		}
		if err := os.Symlink(pty, tmp); err != nil {
			return fmt.Errorf("pstn.expose %s: %w", x.Number, err)
		}
		if err := os.Rename(tmp, x.Link); err != nil {
			return fmt.Errorf("pstn.expose %s: %w", x.Number, err)
		}
		o.log.Info("subscriber exposed on a pty", "number", x.Number, "pty", pty, "link", x.Link)
	}
	return nil
}
