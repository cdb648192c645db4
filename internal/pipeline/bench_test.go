package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
