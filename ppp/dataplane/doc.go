// Package dataplane is the IP data plane of the NAS: it moves the IPv4 datagrams of open PPP
// sessions between the callers and the host's network stack through one TUN interface, routes
// each caller's address (and its Framed-Routes) there while the call lasts, counts every
// session's traffic for accounting and Idle-Timeout, and applies the access lists a Filter-Id
// names. It knows nothing of sessions, lines or PPP negotiation: a session attaches with its
// IPCP addresses and a Send function, and hands over what it receives.
//
// # One shared TUN, routed by peer address
//
// All sessions share one TUN interface (default "nas0"); the plane routes what the kernel
// sends to it by destination address, as a router's interface to an access concentrator does.
// One interface per session (pppd's ppp0..pppN) was rejected:
//
//   - Scale: a NAS has thousands of lines. Per-session interfaces mean thousands of netdevs,
//     each with its file descriptor, reader goroutine, sysfs and sysctl state and udev event,
//     created and destroyed on every call: a burst of rtnetlink work on exactly the mass
//     reconnect that already strains a NAS. One interface is one descriptor and one reader,
//     created once; a call costs a route and a map entry.
//   - Routes: a caller is a host route "PEER/32 dev nas0" and its Framed-Routes are routes on
//     the same device; `ip route show dev nas0` (or `proto nas`) lists every dial-up route.
//   - Firewall rules: the operator writes `iifname "nas0"` / `-i nas0` once, for every caller,
//     and the interface exists before the first call; per-session names need wildcards over
//     interfaces that come and go. Per-user policy is the source address (the pool's prefix)
//     and the access lists here. Traffic from one caller to another goes through the
//     kernel's forwarding (in and out of nas0), so `iifname "nas0" oifname "nas0"` governs it.
//
// The price is what the kernel would do per interface and cannot here: the plane keeps a
// routing table of its own that mirrors the kernel routes it installed (longest-prefix match),
// checks that each caller sends only from its own address or Framed-Routes (the kernel's
// rp_filter cannot tell callers on one interface apart), and counts per session.
//
// MTU: the interface's MTU is Config.MTU, the largest MRU a caller may have; each session's
// MTU (the caller's MRU) is the MTU metric (RTAX_MTU) of its routes, which the kernel honours
// for datagrams it originates and forwards alike (fragmenting, or answering "fragmentation
// needed" for DF datagrams). Setting the interface to the smallest MRU of any caller would
// shrink every caller's packets for one caller's sake.
//
// # Nothing left behind
//
// The TUN is not persistent and its descriptor is close-on-exec, so when the process ends,
// however it ends, the kernel deletes the interface and with it every route through it and
// every address on it. Our routes also carry their own rtnetlink protocol (Config.RouteProtocol,
// default 241) and New deletes every route of that protocol in its table before it starts,
// for routes that outlived the interface some other way. An existing interface with the TUN's
// name is refused, not adopted: its routes would not be ours.
//
// # Filters
//
// Access lists are IOS extended access lists (see ParseRule), applied per session and per
// direction, first match wins, implicit deny, with hit counters per rule. A Filter-Id names
// them as IOS reads attribute 11: "NAME.in", "NAME.out", or a bare "NAME" in the default
// direction (out). A Filter-Id that names a list the NAS does not have makes Attach fail with
// ErrUnknownFilter and the session should be refused (on IOS an access-group naming a list
// that does not exist filters nothing): letting the caller in unfiltered fails open, and letting it in with
// everything denied leaves a connected, billed caller with no service and no clue. A refusal
// shows up in the logs, in the accounting Stop and at the caller's dialler.
//
// # Threads
//
// One reader goroutine per plane reads the TUN and queues each datagram on its session
// without ever blocking, so a slow modem cannot hold up the other callers; each session has
// a writer goroutine that feeds its Send from a bounded queue (Config.QueueLen, tail drop).
// Receive, on the session's own goroutine, writes to the TUN directly (a TUN write does not
// block).
//
// # Choices of dependency
//
// The TUN is made with golang.org/x/sys/unix (open /dev/net/tun, TUNSETIFF with IFF_TUN |
// IFF_NO_PI): one ioctl. golang.zx2c4.com/wireguard/tun adds GSO/GRO offloads, batched reads
// and multiqueue, worth it for gigabit tunnels and not for lines of 56 kbit/s; it would bring
// the wireguard module for one ioctl. The routes, addresses and link settings go over a
// minimal rtnetlink client written here: five requests and one dump, with the kernel's
// extended-ack text in errors; github.com/vishvananda/netlink (with vishvananda/netns) does
// the same in two modules of many thousand lines for a handful of calls.
//
// # Wiring it into the NAS
//
//  1. At start-up: plane, err := dataplane.New(ctx, cfg). errors.Is(err, ErrUnavailable):
//     log a warning that PPP callers get no IP service and carry on (authentication and
//     callback do not need the plane); another error is a configuration error.
//  2. Each time IPCP opens (ppp.LinkConfig.Opened, which also runs after a renegotiation):
//     s, err := plane.Attach(ctx, SessionConfig{ID, Local, Peer from the LinkResult; MTU:
//     LinkResult.PeerMRU, lowered by Profile.MTU; Routes: Profile.Routes; Filter:
//     Profile.Filter; Send: ppp.Link.SendPacket, which is safe from any goroutine}). An error
//     ends the call (cause NAS error). Send runs on the session's writer goroutine.
//  3. ppp.LinkConfig.Packets: s.Receive(ip).
//  4. While up: s.LastActivity() for Idle-Timeout, s.Counters() for Interim-Updates.
//  5. When the link leaves the open phase or ends: s.Close(), then the counters go into
//     the Stop record.
package dataplane
