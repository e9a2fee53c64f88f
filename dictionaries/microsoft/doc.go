// Package microsoft holds the MS-CHAP and MS-CHAPv2 vendor attributes (vendor 311, RFC 2548),
// generated from ../dictionary.microsoft by radius-dict-gen. Do not edit generated.go; use
// the _Add, _Get, _GetStrings and _Del helpers (the generated vendor _Set helpers are broken,
// layeh/radius issue #150).
package microsoft
