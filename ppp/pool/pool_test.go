package pool

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

var a = netip.MustParseAddr

func mustNew(t *testing.T, name, start, end string) *Pool {
	t.Helper()
	p, err := New(name, a(start), a(end))
	if err != nil {
		t.Fatalf("New(%s, %s, %s): %v", name, start, end, err)
	}
	return p
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name       string
		pool       string
		start, end netip.Addr
		size       int
		err        error
	}{
		{"range", "dialin", a("10.0.0.1"), a("10.0.0.10"), 10, nil},
		{"single address", "one", a("10.0.0.1"), a("10.0.0.1"), 1, nil},
		{"end omitted", "one", a("10.0.0.1"), netip.Addr{}, 1, nil},
		{"mapped", "m", a("::ffff:10.0.0.1"), a("::ffff:10.0.0.4"), 4, nil},
		{"across octets", "x", a("10.0.0.250"), a("10.0.1.5"), 12, nil},
		{"max size", "big", a("10.0.0.0"), a("10.0.255.255"), MaxSize, nil},
		{"too big", "big", a("10.0.0.0"), a("10.1.0.0"), 0, ErrBadRange},
		{"all of IPv4", "all", a("0.0.0.0"), a("255.255.255.255"), 0, ErrBadRange},
		{"reversed", "r", a("10.0.0.9"), a("10.0.0.1"), 0, ErrBadRange},
		{"IPv6", "v6", a("2001:db8::1"), a("2001:db8::9"), 0, ErrBadRange},
		{"mixed", "mix", a("10.0.0.1"), a("2001:db8::9"), 0, ErrBadRange},
		{"no name", "", a("10.0.0.1"), a("10.0.0.2"), 0, ErrBadRange},
		{"invalid start", "z", netip.Addr{}, netip.Addr{}, 0, ErrBadRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.pool, tt.start, tt.end)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				if tt.pool != "" && !strings.Contains(err.Error(), tt.pool) {
					t.Errorf("error %q does not name the pool", err)
				}
				return
			}
			if p.Size() != tt.size || p.Free() != tt.size {
				t.Errorf("Size %d Free %d, want %d", p.Size(), p.Free(), tt.size)
			}
		})
	}
}

func TestAllocateLowestThenExhausted(t *testing.T) {
	p := mustNew(t, "dialin", "10.0.0.254", "10.0.1.1")
	want := []string{"10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"}
	for i, w := range want {
		got, err := p.Allocate(fmt.Sprint("user", i))
		if err != nil || got != a(w) {
			t.Fatalf("allocation %d = %v, %v; want %s", i, got, err, w)
		}
	}
	if p.Free() != 0 {
		t.Errorf("Free = %d, want 0", p.Free())
	}
	_, err := p.Allocate("late")
	if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "dialin") {
		t.Fatalf("exhausted pool: err = %v, want ErrExhausted naming the pool", err)
	}
}

func TestReleaseAndReuse(t *testing.T) {
	p := mustNew(t, "dialin", "192.0.2.1", "192.0.2.3")
	for _, u := range []string{"alice", "bob", "carol"} {
		if _, err := p.Allocate(u); err != nil {
			t.Fatal(err)
		}
	}
	p.Release(a("192.0.2.2")) // bob hangs up
	p.Release(a("192.0.2.2")) // twice: harmless
	p.Release(a("10.9.9.9"))  // not ours: harmless
	if p.Free() != 1 {
		t.Fatalf("Free = %d, want 1", p.Free())
	}
	got, err := p.Allocate("dave")
	if err != nil || got != a("192.0.2.2") {
		t.Fatalf("reuse = %v, %v; want 192.0.2.2", got, err)
	}
	want := map[netip.Addr]string{a("192.0.2.1"): "alice", a("192.0.2.2"): "dave", a("192.0.2.3"): "carol"}
	if got := p.InUse(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("InUse = %v, want %v", got, want)
	}
}

func TestSameUserGetsLastAddress(t *testing.T) {
	p := mustNew(t, "dialin", "10.1.0.1", "10.1.0.5")
	alice, _ := p.Allocate("alice") // .1
	bob, _ := p.Allocate("bob")     // .2
	p.Release(alice)
	p.Release(bob)
	// Lowest free is .1, but bob had .2 before.
	if got, _ := p.Allocate("bob"); got != bob {
		t.Fatalf("bob again got %v, want his last address %v", got, bob)
	}
	// carol takes .1 (lowest), so it is no longer alice's to come back to.
	if got, _ := p.Allocate("carol"); got != alice {
		t.Fatalf("carol got %v, want %v", got, alice)
	}
	if got, _ := p.Allocate("alice"); got != a("10.1.0.3") {
		t.Fatalf("alice got %v, want the lowest free 10.1.0.3", got)
	}
	// Anonymous owners never get "their" address back, and do not disturb anyone's.
	x, _ := p.Allocate("")
	p.Release(x)
	if got, _ := p.Allocate(""); got != x {
		t.Fatalf("anonymous got %v, want lowest free %v", got, x)
	}
}

func TestReserve(t *testing.T) {
	p := mustNew(t, "dialin", "10.2.0.1", "10.2.0.4")
	if err := p.Reserve(a("10.2.0.1"), "alice"); err != nil {
		t.Fatal(err)
	}
	if err := p.Reserve(a("10.2.0.1"), "bob"); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "alice") {
		t.Fatalf("double reserve: %v, want ErrInUse naming the holder", err)
	}
	if err := p.Reserve(a("10.2.0.9"), "bob"); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("out of range: %v, want ErrOutOfRange", err)
	}
	if got, _ := p.Allocate("bob"); got != a("10.2.0.2") {
		t.Fatalf("allocate after reserve = %v, want the next free 10.2.0.2", got)
	}
	if err := p.Reserve(a("::ffff:10.2.0.4"), "carol"); err != nil {
		t.Fatalf("reserve mapped address: %v", err)
	}
	if p.Free() != 1 {
		t.Fatalf("Free = %d, want 1", p.Free())
	}
}

// Concurrent callers never get the same address, and every address comes back on release.
// Run with -race.
func TestConcurrentAllocate(t *testing.T) {
	const size, workers, rounds = 64, 8, 200
	p := mustNew(t, "dialin", "10.3.0.1", "10.3.0.64")
	var (
		mu   sync.Mutex
		held = map[netip.Addr]string{}
		wg   sync.WaitGroup
		errs = make(chan error, workers)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprint("user", w)
			for range rounds {
				addr, err := p.Allocate(user)
				if err != nil {
					if errors.Is(err, ErrExhausted) {
						continue
					}
					errs <- err
					return
				}
				mu.Lock()
				if other, dup := held[addr]; dup {
					mu.Unlock()
					errs <- fmt.Errorf("%v given to %s while %s holds it", addr, user, other)
					return
				}
				held[addr] = user
				mu.Unlock()

				mu.Lock()
				delete(held, addr)
				mu.Unlock()
				p.Release(addr)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p.Free() != size || len(p.InUse()) != 0 {
		t.Fatalf("after all releases Free = %d, InUse = %v; want %d, none", p.Free(), p.InUse(), size)
	}
}

// Fill the pool from many goroutines at once: exactly Size succeed, the rest are exhausted,
// and no address is given twice.
func TestConcurrentExhaustion(t *testing.T) {
	p := mustNew(t, "small", "10.4.0.1", "10.4.0.16")
	const callers = 50
	got := make(chan netip.Addr, callers)
	var wg sync.WaitGroup
	var exhausted sync.Map
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr, err := p.Allocate(fmt.Sprint("u", i))
			if err != nil {
				exhausted.Store(i, err)
				return
			}
			got <- addr
		}()
	}
	wg.Wait()
	close(got)
	seen := map[netip.Addr]bool{}
	for addr := range got {
		if seen[addr] {
			t.Fatalf("%v handed out twice", addr)
		}
		seen[addr] = true
	}
	n := 0
	exhausted.Range(func(_, v any) bool {
		if !errors.Is(v.(error), ErrExhausted) {
			t.Errorf("unexpected error %v", v)
		}
		n++
		return true
	})
	if len(seen) != 16 || n != callers-16 {
		t.Fatalf("%d allocated, %d exhausted; want 16, %d", len(seen), n, callers-16)
	}
}

func TestPools(t *testing.T) {
	dialin := mustNew(t, "dialin", "10.0.0.1", "10.0.0.10")
	staff := mustNew(t, "staff", "10.0.1.1", "10.0.1.10")
	r, err := NewPools(staff, dialin)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := r.Lookup("dialin"); !ok || p != dialin {
		t.Fatalf("Lookup(dialin) = %v, %v", p, ok)
	}
	if _, ok := r.Lookup("nope"); ok {
		t.Fatal("Lookup(nope) found a pool")
	}
	for _, tt := range []struct {
		addr string
		want *Pool
	}{
		{"10.0.0.1", dialin}, {"10.0.0.10", dialin}, {"10.0.1.5", staff},
		{"10.0.0.11", nil}, {"9.255.255.255", nil}, {"10.0.1.11", nil},
	} {
		p, ok := r.Owner(a(tt.addr))
		if ok != (tt.want != nil) || p != tt.want {
			t.Errorf("Owner(%s) = %v, %v; want %v", tt.addr, p, ok, tt.want)
		}
	}
	addr, _ := staff.Allocate("alice")
	r.Release(addr)
	r.Release(a("172.16.0.1")) // static address: ignored
	if staff.Free() != staff.Size() {
		t.Fatalf("Pools.Release did not return %v to staff", addr)
	}
	if got := fmt.Sprint(r.Names()); got != "[dialin staff]" {
		t.Errorf("Names = %s", got)
	}

	if _, err := NewPools(dialin, mustNew(t, "dialin", "10.9.0.1", "10.9.0.2")); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate name: err = %v", err)
	}
	if _, err := NewPools(dialin, mustNew(t, "over", "10.0.0.10", "10.0.0.20")); !errors.Is(err, ErrBadRange) {
		t.Errorf("overlap: err = %v", err)
	}
	var none *Pools
	if _, ok := none.Lookup("x"); ok {
		t.Error("nil Pools found a pool")
	}
}

func BenchmarkAllocateRelease(b *testing.B) {
	p, _ := New("bench", a("10.0.0.0"), a("10.0.3.255"))
	for i := range 512 { // half full, so the scan has work to do
		p.Allocate(fmt.Sprint("held", i))
	}
	b.ReportAllocs()
	for b.Loop() {
		addr, err := p.Allocate("u")
		if err != nil {
			b.Fatal(err)
		}
		p.Release(addr)
	}
}
