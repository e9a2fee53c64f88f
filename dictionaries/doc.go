// Package dictionaries owns the RADIUS dictionaries of the nas: FreeRADIUS-format files for
// the standard attributes it uses and for the Cisco, Ascend and Microsoft vendor attributes,
// and the Go packages generated from them with layeh's radius-dict-gen (rfc, cisco, ascend,
// microsoft). Edit a dictionary.* file, then run `go generate ./dictionaries/...`.
package dictionaries

//go:generate go run layeh.com/radius/cmd/radius-dict-gen -package rfc -output rfc/generated.go dictionary.rfc
//go:generate go run layeh.com/radius/cmd/radius-dict-gen -package cisco -output cisco/generated.go dictionary.cisco
//go:generate go run layeh.com/radius/cmd/radius-dict-gen -package ascend -output ascend/generated.go dictionary.ascend
//go:generate go run layeh.com/radius/cmd/radius-dict-gen -package microsoft -output microsoft/generated.go dictionary.microsoft
