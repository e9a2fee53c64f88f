// Package pool owns the IPv4 address pools that PPP callers' addresses come from, the IOS
// `ip local pool NAME START END` of a Cisco access server: allocation of the lowest free
// address (or the one the same user had last), reservation of a specific address (RADIUS
// Framed-IP-Address inside a pool), and release at hang-up. A Pool is safe for concurrent use.
package pool

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
)

// MaxSize is the most addresses one pool may hold. IOS itself allows larger pools, but a dial
// NAS never has more lines than this, and the limit bounds the memory a typo can cost.
const MaxSize = 1 << 16

// Errors; the returned errors wrap them and name the pool.
var (
	ErrExhausted  = errors.New("address pool exhausted")
	ErrInUse      = errors.New("address already in use")
	ErrOutOfRange = errors.New("address not in the pool")
	ErrBadRange   = errors.New("bad pool range")
	ErrDuplicate  = errors.New("duplicate pool")
)

type slot struct {
	used  bool
	owner string // current owner while used; the last owner once released
}

// Pool is one named range of IPv4 addresses.
type Pool struct {
	name  string
	start netip.Addr
	end   netip.Addr

	mu      sync.Mutex
	slots   []slot
	free    int
	lowFree int            // no free slot below this index
	last    map[string]int // owner -> index of the address it had last (held or released)
}

// New returns the pool NAME of the addresses from start to end inclusive. Both must be IPv4
// (IPv4-mapped IPv6 is unmapped), start <= end, and the pool at most MaxSize addresses. An
// invalid end means the single address start, as `ip local pool NAME START` does on IOS.
func New(name string, start, end netip.Addr) (*Pool, error) {
	if name == "" {
		return nil, fmt.Errorf("ip local pool: empty name: %w", ErrBadRange)
	}
	if !end.IsValid() {
		end = start
	}
	start, end = start.Unmap(), end.Unmap()
	if !start.Is4() || !end.Is4() {
		return nil, fmt.Errorf("ip local pool %s %v %v: not IPv4 addresses: %w", name, start, end, ErrBadRange)
	}
	if end.Less(start) {
		return nil, fmt.Errorf("ip local pool %s %v %v: end before start: %w", name, start, end, ErrBadRange)
	}
	n := u32(end) - u32(start) + 1
	if n > MaxSize || n == 0 { // n == 0 only if the range is all of IPv4 (overflow)
		return nil, fmt.Errorf("ip local pool %s %v %v: more than %d addresses: %w", name, start, end, MaxSize, ErrBadRange)
	}
	return &Pool{
		name: name, start: start, end: end,
		slots: make([]slot, n),
		free:  int(n),
		last:  make(map[string]int),
	}, nil
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func (p *Pool) addr(i int) netip.Addr {
	v := u32(p.start) + uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// index returns the slot of addr, or -1 if addr is not in the pool.
func (p *Pool) index(addr netip.Addr) int {
	addr = addr.Unmap()
	if !addr.Is4() || addr.Less(p.start) || p.end.Less(addr) {
		return -1
	}
	return int(u32(addr) - u32(p.start))
}

// Name is the pool's name.
func (p *Pool) Name() string { return p.name }

// Range returns the first and last address of the pool.
func (p *Pool) Range() (start, end netip.Addr) { return p.start, p.end }

// Contains reports whether addr lies in the pool's range.
func (p *Pool) Contains(addr netip.Addr) bool { return p.index(addr) >= 0 }

// Size is the number of addresses in the pool.
func (p *Pool) Size() int { return len(p.slots) }

// Free is the number of addresses not in use.
func (p *Pool) Free() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.free
}

// Allocate gives owner (a user name, or a session id when there is no user) an address: the
// one owner had last if it is free — IOS gives a user back the address it had before, which
// keeps a reconnecting caller's address stable — otherwise the lowest free address. It fails
// with an error wrapping ErrExhausted when none is free.
func (p *Pool) Allocate(owner string) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.free == 0 {
		return netip.Addr{}, fmt.Errorf("allocate an address for %q from ip local pool %s (%d addresses): %w",
			owner, p.name, len(p.slots), ErrExhausted)
	}
	if i, ok := p.last[owner]; ok && owner != "" && !p.slots[i].used {
		p.take(i, owner)
		return p.addr(i), nil
	}
	for i := p.lowFree; i < len(p.slots); i++ {
		if !p.slots[i].used {
			p.take(i, owner)
			p.lowFree = i + 1
			return p.addr(i), nil
		}
	}
	// Unreachable while free > 0 and lowFree is maintained; fail safe rather than panic.
	return netip.Addr{}, fmt.Errorf("allocate from ip local pool %s: free count %d but no free slot: %w",
		p.name, p.free, ErrExhausted)
}

// take marks slot i used by owner. The address stops being anyone else's "last" address.
func (p *Pool) take(i int, owner string) {
	s := &p.slots[i]
	if s.owner != owner {
		if j, ok := p.last[s.owner]; ok && j == i {
			delete(p.last, s.owner)
		}
	}
	s.used, s.owner = true, owner
	if owner != "" {
		p.last[owner] = i
	}
	p.free--
}

// Reserve takes the specific address addr for owner (a RADIUS Framed-IP-Address that lies in
// the pool). It fails if addr is outside the pool (ErrOutOfRange) or already used (ErrInUse).
func (p *Pool) Reserve(addr netip.Addr, owner string) error {
	i := p.index(addr)
	if i < 0 {
		return fmt.Errorf("reserve %v for %q in ip local pool %s (%v-%v): %w", addr, owner, p.name, p.start, p.end, ErrOutOfRange)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.slots[i].used {
		return fmt.Errorf("reserve %v for %q in ip local pool %s: held by %q: %w", addr, owner, p.name, p.slots[i].owner, ErrInUse)
	}
	p.take(i, owner)
	return nil
}

// Release returns addr to the pool. Releasing an address that is free or not in the pool does
// nothing, so a hang-up path may release unconditionally.
func (p *Pool) Release(addr netip.Addr) {
	i := p.index(addr)
	if i < 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.slots[i].used {
		return
	}
	p.slots[i].used = false // the owner stays recorded as the last one
	p.free++
	p.lowFree = min(p.lowFree, i)
}

// InUse returns the addresses in use and their owners (IOS `show ip local pool NAME`).
func (p *Pool) InUse() map[netip.Addr]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[netip.Addr]string, len(p.slots)-p.free)
	for i, s := range p.slots {
		if s.used {
			m[p.addr(i)] = s.owner
		}
	}
	return m
}

func (p *Pool) String() string {
	return fmt.Sprintf("ip local pool %s %v %v (%d free of %d)", p.name, p.start, p.end, p.Free(), p.Size())
}

// Pools is the set of pools by name. It is built once from the configuration and read
// concurrently afterwards; the pools themselves are safe for concurrent use.
type Pools struct {
	byName map[string]*Pool
	sorted []*Pool // by start address, for Owner
}

// NewPools returns the registry of pools. Names must be unique and ranges must not overlap
// (an address in two pools could be handed out twice).
func NewPools(pools ...*Pool) (*Pools, error) {
	r := &Pools{byName: make(map[string]*Pool, len(pools))}
	for _, p := range pools {
		if _, dup := r.byName[p.name]; dup {
			return nil, fmt.Errorf("ip local pool %s defined twice: %w", p.name, ErrDuplicate)
		}
		r.byName[p.name] = p
		r.sorted = append(r.sorted, p)
	}
	sort.Slice(r.sorted, func(i, j int) bool { return r.sorted[i].start.Less(r.sorted[j].start) })
	for i := 1; i < len(r.sorted); i++ {
		a, b := r.sorted[i-1], r.sorted[i]
		if !a.end.Less(b.start) {
			return nil, fmt.Errorf("ip local pool %s (%v-%v) overlaps pool %s (%v-%v): %w",
				b.name, b.start, b.end, a.name, a.start, a.end, ErrBadRange)
		}
	}
	return r, nil
}

// Lookup returns the pool called name.
func (r *Pools) Lookup(name string) (*Pool, bool) {
	if r == nil {
		return nil, false
	}
	p, ok := r.byName[name]
	return p, ok
}

// Owner returns the pool whose range contains addr.
func (r *Pools) Owner(addr netip.Addr) (*Pool, bool) {
	if r == nil {
		return nil, false
	}
	i := sort.Search(len(r.sorted), func(i int) bool { return !r.sorted[i].end.Less(addr.Unmap()) })
	if i < len(r.sorted) && r.sorted[i].Contains(addr) {
		return r.sorted[i], true
	}
	return nil, false
}

// Release returns addr to whichever pool holds it; an address in no pool (a static
// Framed-IP-Address) is ignored.
func (r *Pools) Release(addr netip.Addr) {
	if p, ok := r.Owner(addr); ok {
		p.Release(addr)
	}
}

// Names returns the pool names, sorted.
func (r *Pools) Names() []string {
	if r == nil {
		return nil
	}
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
