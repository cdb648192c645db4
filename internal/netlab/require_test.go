package netlab

import (
	"testing"
)

// recorder is a testing.TB that records Skip/Fatal instead of acting. Like
// the real methods, Skipf and Fatalf do not return: they panic with
// stopSentinel, which run recovers.
type recorder struct {
	testing.TB
	skipped, failed bool
}

type stopSentinel struct{}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(string, ...any) {
	r.skipped = true
	panic(stopSentinel{})
}
func (r *recorder) Fatalf(string, ...any) {
	r.failed = true
	panic(stopSentinel{})
}

// run calls fn(r) and swallows the sentinel.
func (r *recorder) run(fn func(testing.TB)) (self *recorder) {
	self = r
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(stopSentinel); !ok {
				panic(p)
			}
		}
	}()
	fn(r)
	return self
}

func TestSkipPolicy(t *testing.T) {
	cases := []struct {
		env        string
		skip, fail bool
	}{
		{"", true, false},
		{"auto", true, false},
		{"require", false, true},
		{"REQUIRE", false, true},
		{"skip", true, false},
	}
	for _, c := range cases {
		t.Run("env="+c.env, func(t *testing.T) {
			t.Setenv(EnvKernelTests, c.env)
			r := (&recorder{TB: t}).run(func(tb testing.TB) { skipOrFail(tb, "missing %s", "thing") })
			if r.skipped != c.skip || r.failed != c.fail {
				t.Errorf("skipped=%v failed=%v, want skipped=%v failed=%v", r.skipped, r.failed, c.skip, c.fail)
			}
		})
	}
}

func TestRequireToolMissing(t *testing.T) {
	t.Setenv(EnvKernelTests, "")
	missing := func(tb testing.TB) { RequireTool(tb, "definitely-not-a-real-tool-netlab") }
	r := (&recorder{TB: t}).run(missing)
	if !r.skipped || r.failed {
		t.Errorf("missing tool: skipped=%v failed=%v", r.skipped, r.failed)
	}
	t.Setenv(EnvKernelTests, "require")
	r = (&recorder{TB: t}).run(missing)
	if r.skipped || !r.failed {
		t.Errorf("missing tool under require: skipped=%v failed=%v", r.skipped, r.failed)
	}
	t.Setenv(EnvKernelTests, "skip")
	r = (&recorder{TB: t}).run(RequireKernel)
	if !r.skipped {
		t.Error("RequireKernel did not skip under skip policy")
	}
}
