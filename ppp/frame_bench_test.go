package ppp

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// benchInfo is random data: with the default ACCM about one octet in eight is escaped, as on
// a real link before LCP opens; with ACCM 0 about one in 128.
func benchInfo(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

var benchSizes = []int{64, 1500}

func BenchmarkEncode(b *testing.B) {
	for _, accm := range []uint32{DefaultACCM, 0} {
		for _, n := range benchSizes {
			b.Run("accm="+strconv.FormatUint(uint64(accm), 16)+"/size="+strconv.Itoa(n), func(b *testing.B) {
				e := NewEncoder()
				e.SetACCM(accm)
				info := benchInfo(n)
				buf := make([]byte, 0, MaxEncodedLen(n))
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					buf = e.AppendFrame(buf[:0], ProtoIP, info)
				}
			})
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, accm := range []uint32{DefaultACCM, 0} {
		for _, n := range benchSizes {
			b.Run("accm="+strconv.FormatUint(uint64(accm), 16)+"/size="+strconv.Itoa(n), func(b *testing.B) {
				e := NewEncoder()
				e.SetACCM(accm)
				wire := e.AppendFrame(nil, ProtoIP, benchInfo(n))
				d := NewDecoder(0)
				d.SetACCM(accm)
				frames := 0
				emit := func(Frame) { frames++ }
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					d.Feed(wire, emit)
				}
				if frames == 0 || d.Stats().BadFCS != 0 {
					b.Fatalf("decoded %d frames, stats %+v", frames, d.Stats())
				}
			})
		}
	}
}
