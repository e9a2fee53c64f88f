// Package cisco holds the Cisco vendor attributes (vendor 9: Cisco-AVPair, Cisco-NAS-Port),
// generated from ../dictionary.cisco by radius-dict-gen. Do not edit generated.go; use the
// _Add, _Get, _GetStrings and _Del helpers (the generated vendor _Set helpers are broken,
// layeh/radius issue #150).
package cisco
