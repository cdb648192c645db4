package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/devfence/devfence/rules"
)

// BatchResult is the outcome of one profile of a batch.
type BatchResult struct {
	Path    string
	Out     string        // the file written, when it compiled
	Err     error         // diagnostics or I/O error
	Elapsed time.Duration // load, validate, compile and write
}

// BatchSummary is what a batch measured.
type BatchSummary struct {
	Profiles, Failed int
	Wall             time.Duration
	P50, P99         time.Duration
}

// PerSecond is the batch's throughput.
func (s BatchSummary) PerSecond() float64 {
	if s.Wall <= 0 {
		return 0
	}
	return float64(s.Profiles) / s.Wall.Seconds()
}

func (s BatchSummary) String() string {
	return fmt.Sprintf("compiled %d profiles (%d failed) in %s: %.0f profiles/s, per profile p50 %s p99 %s",
		s.Profiles, s.Failed, s.Wall.Round(time.Millisecond), s.PerSecond(), s.P50.Round(time.Microsecond), s.P99.Round(time.Microsecond))
}

// Batch builds every profile into outDir/<name>.nft on all cores, with the
// policy query prepared once (opt.Policies is shared). progress, if not nil,
// is called after each profile with the count done. Results keep the input
// order; one failing profile does not stop the others.
func Batch(ctx context.Context, paths []string, outDir string, opt Options, progress func(done int)) ([]BatchResult, BatchSummary, error) {
	outs := make([]string, len(paths))
	seen := map[string]string{}
	for i, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)) + ".nft"
		if first, dup := seen[name]; dup {
			return nil, BatchSummary{}, fmt.Errorf("%s and %s would both be written to %s", first, p, name)
		}
		seen[name] = p
		outs[i] = filepath.Join(outDir, name)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, BatchSummary{}, err
	}

	results := make([]BatchResult, len(paths))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				t0 := time.Now()
				r := BatchResult{Path: paths[i]}
				res, err := Build(ctx, paths[i], opt)
				if err == nil {
					err = os.WriteFile(outs[i], []byte(rules.Replace(res.Table).String()), 0o644)
					r.Out = outs[i]
				}
				r.Err, r.Elapsed = err, time.Since(t0)
				results[i] = r
				if progress != nil {
					mu.Lock()
					done++
					progress(done)
					mu.Unlock()
				}
			}
		})
	}
	for i := range paths {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()

	sum := BatchSummary{Profiles: len(paths), Wall: time.Since(start)}
	lat := make([]time.Duration, 0, len(results))
	for _, r := range results {
		if r.Err != nil {
			sum.Failed++
		}
		lat = append(lat, r.Elapsed)
	}
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		sum.P50, sum.P99 = lat[n/2], lat[min(n-1, n*99/100)]
	}
	return results, sum, ctx.Err()
}
