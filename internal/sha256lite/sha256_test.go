package sha256lite

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// TestMatchesCryptoSHA256 compares every length around the block and
// padding boundaries, and random contents, with the standard library.
func TestMatchesCryptoSHA256(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		if got, want := Sum256(data), sha256.Sum256(data); got != want {
			t.Fatalf("length %d: got %x, want %x", n, got, want)
		}
	}
	big := make([]byte, 1<<20+13)
	if got, want := Sum256(big), sha256.Sum256(big); got != want {
		t.Fatalf("1 MiB: got %x, want %x", got, want)
	}
	if got := Hex([]byte("abc")); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("FIPS 180-4 example \"abc\": got %s", got)
	}
}

func FuzzMatchesCryptoSHA256(f *testing.F) {
	f.Add([]byte("devfence"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := Sum256(data), sha256.Sum256(data); got != want {
			t.Fatalf("got %x, want %x", got, want)
		}
	})
}
