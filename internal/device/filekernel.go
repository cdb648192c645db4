package device

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink"
)

// EnvFakeKernel is for tests only: the test binary of cmd/devfence, and a
// devfence built with -tags devfence_fakekernel, put their tables in the
// FileKernel this variable names instead of the kernel. A devfence built
// without the tag never reads it.
const EnvFakeKernel = "DEVFENCE_TEST_FAKE_KERNEL"

// FileKernel is a netlink.Fake kept in a file, so that the processes of
// one test (the test binary, the devfence it runs, the guard that one
// starts) share one fake kernel without privileges. Each call takes an
// flock on the file, loads it, and writes it back when a transaction
// committed. The tables are kept as the state dir keeps them, so dynamic
// sets' elements (datapath state) do not survive a call.
type FileKernel struct {
	path  string
	netns string
}

// OpenFileKernel is the namespace netns of the fake kernel kept in path
// (created when first written).
func OpenFileKernel(path, netns string) *FileKernel { return &FileKernel{path: path, netns: netns} }

// fileKernelState is the file: per namespace, the generation and tables.
type fileKernelState struct {
	Namespaces map[string]*fileKernelNS `json:"namespaces"`
}

type fileKernelNS struct {
	Generation uint32   `json:"generation"`
	Tables     []*saved `json:"tables"`
}

// NetNS is the namespace name the kernel was opened for.
func (k *FileKernel) NetNS() string { return k.netns }

// Close holds nothing: every call opens the file and closes it.
func (k *FileKernel) Close() error { return nil }

// Probe finds every feature: the fake has them all.
func (k *FileKernel) Probe() (*rules.Kernel, error) {
	has := map[rules.Feature]bool{}
	for _, f := range rules.Features {
		has[f.Feature] = true
	}
	return &rules.Kernel{Release: "fake", Has: has}, nil
}

// Generation moves with every transaction committed in the namespace.
func (k *FileKernel) Generation() (gen uint32, err error) {
	err = k.with(func(ns *fileKernelNS, _ *netlink.FakeConn) (bool, error) {
		gen = ns.Generation
		return false, nil
	})
	return gen, err
}

// Read is netlink.FakeConn's.
func (k *FileKernel) Read(family, name string) (t *rules.Table, err error) {
	err = k.with(func(_ *fileKernelNS, c *netlink.FakeConn) (bool, error) {
		t, err = c.Read(family, name)
		return false, err
	})
	return t, err
}

// Dump is netlink.FakeConn's: the namespace's ruleset as nft text.
func (k *FileKernel) Dump() (text string, err error) {
	err = k.with(func(_ *fileKernelNS, c *netlink.FakeConn) (bool, error) {
		text = c.Dump()
		return false, nil
	})
	return text, err
}

// Apply is netlink.FakeConn's; a committed transaction is written back.
func (k *FileKernel) Apply(tx *rules.Transaction) (st netlink.Stats, err error) {
	err = k.with(func(ns *fileKernelNS, c *netlink.FakeConn) (bool, error) {
		before, _ := c.Generation()
		if st, err = c.Apply(tx); err != nil {
			return false, err
		}
		after, _ := c.Generation()
		if after == before {
			return false, nil
		}
		ns.Generation++
		ns.Tables = nil
		for _, t := range c.Tables() {
			s, err := save(t.Family, t.Name, t)
			if err != nil {
				return false, err
			}
			ns.Tables = append(ns.Tables, s)
		}
		return true, nil
	})
	return st, err
}

// with runs fn on the namespace, loaded into a netlink.Fake, under the
// file's lock; the file is rewritten when fn says it changed something.
func (k *FileKernel) with(fn func(*fileKernelNS, *netlink.FakeConn) (bool, error)) error {
	f, err := os.OpenFile(k.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("fake kernel: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("fake kernel %s: %w", k.path, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("fake kernel %s: %w", k.path, err)
	}
	st := &fileKernelState{}
	if len(data) > 0 {
		if err := json.Unmarshal(data, st); err != nil {
			return fmt.Errorf("fake kernel %s: %w", k.path, err)
		}
	}
	if st.Namespaces == nil {
		st.Namespaces = map[string]*fileKernelNS{}
	}
	ns := st.Namespaces[k.netns]
	if ns == nil {
		ns = &fileKernelNS{}
		st.Namespaces[k.netns] = ns
	}
	c := netlink.NewFake().Open(k.netns)
	for _, s := range ns.Tables {
		t, err := s.table()
		if err != nil {
			return fmt.Errorf("fake kernel %s: %w", k.path, err)
		}
		if _, err := c.Apply(rules.Replace(t)); err != nil {
			return fmt.Errorf("fake kernel %s: %w", k.path, err)
		}
	}
	changed, err := fn(ns, c)
	if err != nil || !changed {
		return err
	}
	if data, err = json.Marshal(st); err != nil {
		return fmt.Errorf("fake kernel %s: %w", k.path, err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return fmt.Errorf("fake kernel %s: %w", k.path, err)
	}
	return errors.Join(f.Truncate(int64(len(data))), f.Sync())
}
