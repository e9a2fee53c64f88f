// Package examples holds the shipped example configuration and the bundled `nas lab`
// scenarios, embedded so that the binary runs them anywhere.
package examples

import "embed"

// FS holds nas.yaml and lab/ (scenarios in lab/*.yaml, their NAS configurations in lab/configs/).
//
//go:embed nas.yaml lab
var FS embed.FS
