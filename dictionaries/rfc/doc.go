// Package rfc holds the standard RADIUS attributes the nas uses (RFC 2865, 2866, 2869,
// 5176), generated from ../dictionary.rfc by radius-dict-gen. Do not edit generated.go.
package rfc
