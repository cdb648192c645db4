package policies

import (
	"context"
	"testing"
)

// BenchmarkCheck is the per-profile cost once New has prepared the query.
func BenchmarkCheck(b *testing.B) {
	e := newEngine(b)
	p := load(b, "examples/baby-monitor.yaml")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := e.Check(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Denies) != 0 {
			b.Fatalf("baby-monitor denied: %v", r.Denies)
		}
	}
}

// BenchmarkCheckDenied includes building diagnostics for a profile with findings.
func BenchmarkCheckDenied(b *testing.B) {
	e := newEngine(b)
	p := load(b, "examples/denied/inbound-no-telnet.yaml")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Check(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNew is the start-up cost: parsing, compiling and preparing.
func BenchmarkNew(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(ctx, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
