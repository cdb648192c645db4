package main

import (
	"os"

	"github.com/devfence/devfence/internal/device"
	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink"
)

// kernelConn is what the commands need of a connection to nf_tables
// (*netlink.Conn).
type kernelConn interface {
	device.Kernel
	Generation() (uint32, error)
	Probe() (*rules.Kernel, error)
	Close() error
}

// openConn connects to nf_tables in network namespace netns ("" the
// caller's own).
var openConn = func(netns string) (kernelConn, error) {
	c, err := netlink.Open(netns)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// useFakeKernel makes the commands keep their tables in the fake kernel
// (device.FileKernel) that $DEVFENCE_TEST_FAKE_KERNEL names, when it is
// set, so that tests of the commands and of the processes they start run
// without privileges. Only the test binary and a devfence built with
// -tags devfence_fakekernel call it; any other build does not even link
// the fake.
func useFakeKernel() {
	real := openConn
	openConn = func(netns string) (kernelConn, error) {
		if path := os.Getenv(device.EnvFakeKernel); path != "" {
			return device.OpenFileKernel(path, netns), nil
		}
		return real(netns)
	}
}
