package pipeline

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"
)

// lookupHosts returns host's addresses in the hosts file at path, in the
// file's order; none when the file has no line for host or does not
// exist. Names match without regard to case or a final dot, as in libc.
// A zone (fe80::1%eth0) is dropped, since a set element cannot hold one.
func lookupHosts(path, host string) ([]netip.Addr, error) {
	host = strings.TrimSuffix(host, ".")
	var out []netip.Addr
	err := eachLine(path, func(fields []string) {
		if len(fields) < 2 {
			return
		}
		a, err := netip.ParseAddr(fields[0])
		if err != nil {
			return
		}
		for _, name := range fields[1:] {
			if strings.EqualFold(strings.TrimSuffix(name, "."), host) {
				out = append(out, a.WithZone("").Unmap())
				return
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachLine calls fn with the fields of each line of the /etc file at path,
// '#' comments cut off; a missing file has no lines, as libc reads it.
func eachLine(path string, fn func(fields []string)) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fn(strings.Fields(line))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}
