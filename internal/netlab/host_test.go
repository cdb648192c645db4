package netlab

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func threadNetNS() (string, error) { return os.Readlink("/proc/thread-self/ns/net") }

// TestDoRestoresNamespace: Do really enters the host namespace, and after
// many concurrent Do calls no OS thread of the process is left in a lab
// namespace. Not parallel: it inspects every thread of the process.
func TestDoRestoresNamespace(t *testing.T) {
	l := New(t, WithVictims(0))
	root, err := threadNetNS()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		h := l.Hosts()[i%len(l.Hosts())]
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := h.Do(func() error {
				ns, err := threadNetNS()
				mu.Lock()
				seen[h.Name+"="+ns] = true
				mu.Unlock()
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	inside := map[string]string{}
	for k := range seen {
		name, ns, _ := strings.Cut(k, "=")
		if ns == root {
			t.Errorf("Do on %s ran in the root namespace", name)
		}
		if prev, ok := inside[name]; ok && prev != ns {
			t.Errorf("Do on %s ran in two namespaces: %s, %s", name, prev, ns)
		}
		inside[name] = ns
	}

	// Visit (very likely) every thread: many goroutines each pinned to a
	// thread at the same time.
	n := 4 * runtime.GOMAXPROCS(0)
	if n < 32 {
		n = 32
	}
	var barrier sync.WaitGroup
	barrier.Add(n)
	results := make(chan string, n)
	for i := 0; i < n; i++ {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ns, _ := threadNetNS()
			results <- ns
			barrier.Done()
			barrier.Wait()
		}()
	}
	barrier.Wait()
	close(results)
	for ns := range results {
		if ns != root {
			t.Fatalf("a thread was left in namespace %s (root is %s)", ns, root)
		}
	}
	// Same check for every existing thread via /proc.
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		ns, err := os.Readlink("/proc/self/task/" + e.Name() + "/ns/net")
		if err == nil && ns != root {
			t.Errorf("thread %s is in namespace %s", e.Name(), ns)
		}
	}
}

func TestDoPropagatesErrorsAndPanics(t *testing.T) {
	t.Parallel()
	l := New(t, WithVictims(0))
	want := context.Canceled
	if err := l.Device.Do(func() error { return want }); err != want {
		t.Errorf("Do error = %v, want %v", err, want)
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(r.(string), "boom") {
				t.Errorf("recovered %v, want panic mentioning boom", r)
			}
		}()
		_ = l.Device.Do(func() error { panic("boom") })
	}()
}

func TestStartProcess(t *testing.T) {
	t.Parallel()
	RequireTool(t, "sh")
	l := New(t, WithVictims(0))
	p, err := l.Cloud.StartProcess("sh", "-c", "echo started; exec sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	if !Eventually(waitTimeout, func() bool { return strings.Contains(p.Output(), "started") }) {
		t.Fatalf("output %q", p.Output())
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(time.Second); err == nil {
		t.Error("killed process reported success")
	}
}

func TestPollIsBounded(t *testing.T) {
	calls := 0
	start := time.Now()
	err := Poll(50*time.Millisecond, 10*time.Millisecond, func() (bool, error) { calls++; return false, nil })
	if err == nil {
		t.Fatal("Poll returned nil for a never-true condition")
	}
	if calls > 7 {
		t.Errorf("cond called %d times in a 50ms/10ms poll", calls)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("Poll took %v", time.Since(start))
	}
}

func TestParseCapEff(t *testing.T) {
	in := "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t0000000000003000\n"
	v, err := parseCapEff(bufio.NewScanner(strings.NewReader(in)))
	if err != nil || v != 0x3000 || v&(1<<capNetAdmin) == 0 || v&(1<<capSysAdmin) != 0 {
		t.Errorf("parseCapEff = %#x, %v", v, err)
	}
	if _, err := parseCapEff(bufio.NewScanner(strings.NewReader("Name:\tx\n"))); err == nil {
		t.Error("missing CapEff accepted")
	}
}
