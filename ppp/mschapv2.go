package ppp

import (
	"crypto/rand"
	"fmt"
	"strings"
)

// MS-CHAPv2 error code for a failed authentication in the Failure message (RFC 2759 §6).
const mschapErrAuthFailure = 691 // ERROR_AUTHENTICATION_FAILURE

// mschapv2SuccessMessage is the Message of a Success packet: "S=<auth_string> M=<message>"
// (RFC 2759 §5). Without an authenticator response (a backend that gave none) only the
// message goes out, and a conforming peer will hang up.
func mschapv2SuccessMessage(authResp, msg string) string {
	if authResp == "" {
		return "M=" + msg
	}
	return authResp + " M=" + msg
}

// mschapv2FailureMessage is the Message of a Failure packet (RFC 2759 §6): error 691, no
// retry, a fresh challenge (which only a retry would use), version 3.
func mschapv2FailureMessage(msg string) string {
	var c [16]byte
	_, _ = rand.Read(c[:])
	return fmt.Sprintf("E=%d R=0 C=%X V=3 M=%s", mschapErrAuthFailure, c[:], msg)
}

// parseMSCHAPv2Success splits a Success Message into the authenticator response ("S=" and 40
// hex digits) and the text after " M=". ok is false if the message does not start with an
// authenticator response.
func parseMSCHAPv2Success(m string) (authResp, text string, ok bool) {
	const n = 2 + 40
	if len(m) < n || !strings.HasPrefix(m, "S=") {
		return "", "", false
	}
	for _, c := range m[2:n] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return "", "", false
		}
	}
	rest := m[n:]
	if i := strings.Index(rest, "M="); i >= 0 {
		text = rest[i+2:]
	}
	return m[:n], text, true
}
