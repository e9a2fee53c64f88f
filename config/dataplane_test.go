package config

import (
	"strings"
	"testing"

	"github.com/dialback/nas/ppp/dataplane"
)

func TestDataPlaneValidation(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		path string
		msg  string
	}{
		{"interface too long", "dataplane: {interface: nas0123456789abc}", "dataplane.interface", "longer than 15 characters"},
		{"interface slash", "dataplane: {interface: nas/0}", "dataplane.interface", "no white space, '/'"},
		{"interface blank", `dataplane: {interface: "nas 0"}`, "dataplane.interface", "no white space"},
		{"interface dot", `dataplane: {interface: ".."}`, "dataplane.interface", "not an interface name"},
		{"interface percent", `dataplane: {interface: "nas%s"}`, "dataplane.interface", `one "%d"`},
		{"interface two numbers", `dataplane: {interface: "n%d%d"}`, "dataplane.interface", `one "%d"`},
		{"mtu small", "dataplane: {mtu: 67}", "dataplane.mtu", "67 is out of range 68-65535"},
		{"mtu large", "dataplane: {mtu: 65536}", "dataplane.mtu", "out of range"},
		{"route-protocol kernel", "dataplane: {route-protocol: 4}", "dataplane.route-protocol", "belongs to the kernel or a routing daemon"},
		{"route-protocol bird", "dataplane: {route-protocol: 12}", "dataplane.route-protocol", "choose another (default 241)"},
		{"route-protocol range", "dataplane: {route-protocol: 256}", "dataplane.route-protocol", "out of range 1-255"},
		{"route-table local", "dataplane: {route-table: 255}", "dataplane.route-table", "the kernel's local table"},
		{"route-table default", "dataplane: {route-table: 253}", "dataplane.route-table", "the kernel's default table"},
		{"route-table negative", "dataplane: {route-table: -1}", "dataplane.route-table", "out of range 1-4294967295"},
		{"queue-len", "dataplane: {queue-len: 5000}", "dataplane.queue-len", "5000 is out of range 1-4096"},
		{"filter-direction", "dataplane: {filter-direction: both}", "dataplane.filter-direction", `"both" is not one of in, out`},
		{"enabled not a bool", "dataplane: {enabled: maybe}", "dataplane.enabled", "not a boolean"},
		{"unknown key", "dataplane: {mru: 1500}", "dataplane.mru", "unknown key"},
		{"access list bad rule", "access-lists:\n  web:\n    - permit tcp any host 10.0.0.1 eq 80\n    - permit tcp any hst 10.0.0.1\n",
			"access-lists.web", `line 2 "permit tcp any hst 10.0.0.1"`},
		{"access list bad port", "access-lists: {web: [\"permit udp any any eq 70000\"]}", "access-lists.web", "line 1"},
		{"access list bad name", "access-lists: {\"web.only\": [\"permit ip any any\"]}", "access-lists.web.only", "only letters, digits"},
		{"access list not a list", "access-lists: {web: 3}", "access-lists.web", "want a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOneError(t, pppDoc(tt.yaml), tt.path, tt.msg)
		})
	}
}

// Every bad list is reported, each under its own name.
func TestAccessListsReportAll(t *testing.T) {
	_, err := Parse([]byte(pppDoc(`
access-lists:
  a: ["permit ip any any"]
  b: ["deny tcp any any eq nosuchport"]
  c: ["remark fine", "", "allow ip any any"]
`)))
	es := mustErrors(t, err)
	if len(es) != 2 || es[0].Path != "access-lists.b" || es[1].Path != "access-lists.c" || !strings.Contains(es[1].Msg, "line 3") {
		t.Errorf("got:\n%v", err)
	}
}

func TestDataPlaneValid(t *testing.T) {
	c, err := Parse([]byte(pppDoc(`
dataplane:
  interface: dial%d
  mtu: 1500
  route-protocol: 242
  route-table: 100
  queue-len: 16
  filter-direction: in
access-lists:
  WEB-only:
    - remark the portal only
    - permit tcp any host 10.0.0.1 eq www
    - permit udp any any eq domain
    - deny ip any any
  all: ["permit ip any any"]
  none: []
`)))
	if err != nil {
		t.Fatal(err)
	}
	if !c.DataPlane.On() {
		t.Error("the data plane is off without enabled: false")
	}
	dc, err := c.DataPlaneConfig()
	if err != nil {
		t.Fatal(err)
	}
	if dc.Name != "dial%d" || dc.MTU != 1500 || dc.RouteProtocol != 242 || dc.RouteTable != 100 || dc.QueueLen != 16 ||
		dc.FilterDirection != dataplane.In {
		t.Errorf("data plane config %+v", dc)
	}
	// Keys are read in lower case: a Filter-Id is matched against the lower-case name.
	web, ok := dc.AccessLists["web-only"]
	if !ok || len(dc.AccessLists) != 3 {
		t.Fatalf("access lists %v", dc.AccessLists)
	}
	if rules := web.Rules(); len(rules) != 3 {
		t.Errorf("web-only has %d rules, want 3 (the remark is not one): %v", len(rules), rules)
	}
	if ok, _ := dc.AccessLists["none"].Permits(ipv4Packet()); ok {
		t.Error("an empty list permits: the implicit deny is missing")
	}

	// Leaving it all out: on, with the data plane's defaults and no lists.
	c, err = Parse([]byte(pppDoc(`dataplane: {enabled: false}`)))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataPlane.On() {
		t.Error("enabled: false left the data plane on")
	}
	c, err = Parse([]byte(pppDoc()))
	if err != nil {
		t.Fatal(err)
	}
	dc, err = c.DataPlaneConfig()
	if err != nil || dc.Name != "" || dc.FilterDirection != dataplane.Out || len(dc.AccessLists) != 0 || !c.DataPlane.On() {
		t.Errorf("defaults: %+v, %v", dc, err)
	}
}

// ipv4Packet is a minimal IPv4 header, UDP from 10.0.0.2 to 10.0.0.1.
func ipv4Packet() []byte {
	return []byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1, 0, 53, 0, 53, 0, 8, 0, 0}
}
