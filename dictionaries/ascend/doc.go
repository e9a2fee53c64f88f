// Package ascend holds the callback subset of the Ascend vendor attributes (vendor 529),
// generated from ../dictionary.ascend by radius-dict-gen. Do not edit generated.go; use the
// _Add, _Get, _GetStrings and _Del helpers (the generated vendor _Set helpers are broken,
// layeh/radius issue #150).
package ascend
