package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/policies"
)

// fleetProfile is a camera-like profile varied by i (the same shape as
// internal/bench/genprofiles writes).
func fleetProfile(i int) string {
	return fmt.Sprintf(`version: 1
device: {name: device-%05d, description: generated}
networks:
  lan: [10.%d.%d.0/24, "fd00:%x::/64"]
  resolvers: [10.%d.%d.1]
  cloud: [198.51.100.%d, "2001:db8:%x::10"]
inbound:
  services:
    - {name: viewer, proto: tcp, port: %d, from: [lan], consent: true}
egress:
  quota: 512KiB/1h
  total: 64MiB/1h
  allow:
    - {name: dns, to: [resolvers], proto: udp, port: 53, quota: 64KiB/10m}
    - {name: cloud-api, to: [cloud], proto: tcp, port: 443}
    - {name: ntp, to: any, proto: udp, port: 123, quota: 16KiB/1h}
consent:
  bulk: [{proto: udp, port: 5000-5100}]
  handshakes: [{name: upload, to: [cloud], port: 4433, clearToSend: "220"}]
`, i, i/256%256, i%256, i, i/256%256, i%256, i%250+1, i, 8000+i%1000)
}

// BenchmarkBuild measures one profile through load, policies (query
// prepared once, outside the loop) and compile: the per-profile cost of
// fleet compiles.
//
//	go test ./internal/pipeline -run '^$' -bench Build -benchmem
func BenchmarkBuild(b *testing.B) {
	dir := b.TempDir()
	const n = 64
	for i := range n {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("p%d.yaml", i)), []byte(fleetProfile(i)), 0o644)
	}
	ctx := context.Background()
	eng, err := policies.New(ctx, policies.Options{})
	if err != nil {
		b.Fatal(err)
	}
	opt := pipeline.Options{Policies: checker{eng}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := pipeline.Build(ctx, filepath.Join(dir, fmt.Sprintf("p%d.yaml", i%n)), opt); err != nil {
			b.Fatal(err)
		}
	}
}

type checker struct{ e *policies.Engine }

func (c checker) Check(ctx context.Context, p *compiler.Profile) (compiler.Diagnostics, error) {
	r, err := c.e.Check(ctx, p)
	if err != nil {
		return nil, err
	}
	return r.Denies, nil
}

// BenchmarkFleet compiles 1,000 profiles per iteration with Batch on all
// cores, as `devfence compile --out-dir` does, and reports profiles/s.
//
//	go test ./internal/pipeline -run '^$' -bench Fleet -benchtime 5x
func BenchmarkFleet(b *testing.B) {
	dir, out := b.TempDir(), b.TempDir()
	const n = 1000
	paths := make([]string, n)
	for i := range n {
		paths[i] = filepath.Join(dir, fmt.Sprintf("device-%04d.yaml", i))
		os.WriteFile(paths[i], []byte(fleetProfile(i)), 0o644)
	}
	ctx := context.Background()
	eng, err := policies.New(ctx, policies.Options{})
	if err != nil {
		b.Fatal(err)
	}
	opt := pipeline.Options{Policies: checker{eng}}
	var rate []float64
	for b.Loop() {
		_, sum, err := pipeline.Batch(ctx, paths, out, opt, nil)
		if err != nil || sum.Failed > 0 {
			b.Fatalf("batch: %v, %d failed", err, sum.Failed)
		}
		rate = append(rate, sum.PerSecond())
	}
	slices.Sort(rate)
	b.ReportMetric(rate[len(rate)/2], "profiles/s")
}
