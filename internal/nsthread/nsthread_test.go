package nsthread

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	_ "github.com/devfence/devfence/internal/golden"
)

func netnsID(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestDoEntersAndRestores enters a new namespace made by unshare inside
// Locked, and checks that work inside sees it while every thread of the
// process is back in the original one afterwards.
func TestDoEntersAndRestores(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	here := netnsID(t, "/proc/self/ns/net")
	var inside uint64
	var fd int
	err := Locked(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return err
		}
		var err error
		fd, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := Do(fd, func() error { inside = netnsID(t, "/proc/thread-self/ns/net"); return nil }); err != nil {
		t.Fatal(err)
	}
	if inside == here || inside == 0 {
		t.Errorf("work ran in namespace %d, want the new one (not %d)", inside, here)
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		if id := netnsID(t, "/proc/self/task/"+task.Name()+"/ns/net"); id != here {
			t.Errorf("thread %s left in namespace %d", task.Name(), id)
		}
	}
}

func TestDoReportsEnterErrors(t *testing.T) {
	err := Do(-1, func() error { t.Error("work ran without entering"); return nil })
	var ee *EnterError
	if !errors.As(err, &ee) || !errors.Is(err, unix.EBADF) {
		t.Errorf("got %v, want an EnterError wrapping EBADF", err)
	}
	want := errors.New("work failed")
	if err := Locked(func() error { return want }); !errors.Is(err, want) {
		t.Errorf("Locked lost the work's error: %v", err)
	}
}
