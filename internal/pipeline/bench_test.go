package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/devfence/devfence/internal/bench/fleet"

	"github.com/devfence/devfence/internal/pipeline"
	"github.com/devfence/devfence/policies"
)

// BenchmarkBuild measures one profile through load, policies (query
// prepared once, outside the loop) and compile: the per-profile cost of
// fleet compiles.
//
//	go test ./internal/pipeline -run '^$' -bench Build -benchmem
func BenchmarkBuild(b *testing.B) {
	dir := b.TempDir()
	const n = 64
	for i := range n {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("p%d.yaml", i)), []byte(fleet.Profile(i, 0)), 0o644)
	}
	ctx := context.Background()
	eng, err := policies.New(ctx, policies.Options{})
	if err != nil {
		b.Fatal(err)
	}
	opt := pipeline.Options{Policies: eng}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := pipeline.Build(ctx, filepath.Join(dir, fmt.Sprintf("p%d.yaml", i%n)), opt); err != nil {
			b.Fatal(err)
		}
	}
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
		os.WriteFile(paths[i], []byte(fleet.Profile(i, 0)), 0o644)
	}
	ctx := context.Background()
	eng, err := policies.New(ctx, policies.Options{})
	if err != nil {
		b.Fatal(err)
	}
	opt := pipeline.Options{Policies: eng}
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
