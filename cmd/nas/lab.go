package main

import (
	"fmt"
	"io"
)

func cmdLab(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "nas lab: not yet")
	return 1
}
