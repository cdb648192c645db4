package device

import (
	"fmt"
	"os"
	"syscall"
)

// NSKey names a network namespace for the state dir, so that the state
// of one namespace is never restored into another. A namespace given by
// name (--netns NAME) is "netns-NAME": the name is what an operator
// uses, and survives a reboot. The caller's own namespace is "default"
// when it is the init process's (the host's, surviving reboots, which
// the boot-time rollback needs), else "ns-INODE".
func NSKey(netns string) (string, error) {
	if netns != "" {
		return "netns-" + netns, nil
	}
	self, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		return "", fmt.Errorf("network namespace: %w", err)
	}
	if init, err := os.Stat("/proc/1/ns/net"); err == nil && os.SameFile(self, init) {
		return "default", nil
	}
	st, ok := self.Sys().(*syscall.Stat_t)
	if !ok {
		return "", fmt.Errorf("network namespace: no inode for /proc/self/ns/net")
	}
	return fmt.Sprintf("ns-%d", uint64(st.Ino)), nil
}
