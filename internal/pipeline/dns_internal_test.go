package pipeline

import (
	"path/filepath"
	"testing"
)

// TestNoResolvConf: a missing resolv.conf reads as one naming no server
// (then servers gives libc's defaults on loopback); any other failure to
// read it is an error.
func TestNoResolvConf(t *testing.T) {
	dir := t.TempDir()
	got, err := readNameservers(filepath.Join(dir, "resolv.conf"))
	if err != nil || got != nil {
		t.Errorf("readNameservers of a missing file: %q, %v; want none and no error", got, err)
	}
	if _, err := readNameservers(dir); err == nil {
		t.Error("readNameservers of a directory: no error")
	}
}
