package kernellab

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// wantModule reports whether the VM needs the module at rel (a path of
// modules.dep such as kernel/net/netfilter/nft_ct.ko): every nftables and
// conntrack module, so any expression devfence emits finds its module
// loaded (busybox modprobe would not resolve the kernel's nft-expr-*
// aliases), plus veth and bridge for the netlab namespaces, xfrm_user
// (vishvananda/netlink handles open a NETLINK_XFRM socket) and the crc32c
// provider libcrc32c needs.
func wantModule(rel string) bool {
	dir, name := path.Dir(rel), moduleName(rel)
	switch {
	case name == "veth" || name == "bridge" || name == "crc32c_generic" || name == "xfrm_user":
		return true
	case strings.HasSuffix(dir, "/netfilter") && conntrackHelper.MatchString(name):
		return false // application-layer helpers: devfence uses none, some need modules left out
	case name == "nfnetlink_cttimeout":
		return false // devfence sets no conntrack timeouts; on 6.1 s390x its init warns (a kernel trace)
	case strings.HasSuffix(dir, "/netfilter"):
		return strings.HasPrefix(name, "nf_") || strings.HasPrefix(name, "nft_") || strings.HasPrefix(name, "nfnetlink")
	}
	return false
}

var conntrackHelper = regexp.MustCompile(`^nf_(conntrack|nat)_(amanda|ftp|h323|irc|netbios_ns|pptp|sane|sip|snmp|tftp|broadcast)|^nf_nat_snmp_basic`)

// moduleName is the module's name as modprobe takes it.
func moduleName(rel string) string {
	base := path.Base(rel)
	base = base[:strings.Index(base, ".ko")]
	return strings.ReplaceAll(base, "-", "_")
}

// modules selects the wanted modules of the kernel unpacked at root and
// the modules they depend on, adds them to r under lib/modules with a
// modules.dep of just them, and returns the kernel release and the names
// to load, crc32c_generic first: busybox modprobe ignores the soft
// dependency of libcrc32c (which nf_tables needs) on a crc32c provider.
// modules.dep is not in the package (depmod writes it on install), so the
// dependencies are read from each module's .modinfo section.
func modules(r *initramfs, root string) (release string, load []string, err error) {
	dirs, _ := filepath.Glob(filepath.Join(root, "lib", "modules", "*"))
	if len(dirs) != 1 {
		return "", nil, fmt.Errorf("want one kernel under %s/lib/modules, found %v", root, dirs)
	}
	release = filepath.Base(dirs[0])
	byName := map[string]string{} // module name -> path relative to dirs[0]
	var order []string
	err = filepath.WalkDir(filepath.Join(dirs[0], "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".ko") {
			return err
		}
		rel, _ := filepath.Rel(dirs[0], p)
		rel = filepath.ToSlash(rel)
		byName[moduleName(rel)] = rel
		order = append(order, rel)
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	deps := map[string][]string{}
	keep := map[string]bool{}
	var walk func(string) error
	walk = func(rel string) error {
		if keep[rel] {
			return nil
		}
		keep[rel] = true
		names, err := moduleDepends(filepath.Join(dirs[0], rel))
		if err != nil {
			return err
		}
		for _, n := range names {
			dep, ok := byName[n]
			if !ok {
				return fmt.Errorf("%s depends on %s, which %s does not have", rel, n, release)
			}
			deps[rel] = append(deps[rel], dep)
			if err := walk(dep); err != nil {
				return err
			}
		}
		return nil
	}
	for _, m := range order {
		if wantModule(m) {
			if err := walk(m); err != nil {
				return "", nil, err
			}
			load = append(load, moduleName(m))
		}
	}
	if byName["nf_tables"] == "" {
		return "", nil, fmt.Errorf("kernel %s has no nf_tables module (%d modules)", release, len(order))
	}
	kept := make([]string, 0, len(keep))
	for m := range keep {
		kept = append(kept, m)
	}
	sort.Strings(kept)
	var dep strings.Builder
	for _, m := range kept {
		if err := r.addFile(path.Join("lib/modules", release, m), filepath.Join(dirs[0], m)); err != nil {
			return "", nil, err
		}
		// modules.dep lists a module's whole closure, deepest last.
		fmt.Fprintf(&dep, "%s:%s\n", m, prefixSpace(closure(m, deps)))
	}
	r.add(path.Join("lib/modules", release, "modules.dep"), []byte(dep.String()), 0o644)
	if b, err := os.ReadFile(filepath.Join(dirs[0], "modules.builtin")); err == nil {
		r.add(path.Join("lib/modules", release, "modules.builtin"), b, 0o644)
	}
	sort.Strings(load)
	sort.SliceStable(load, func(i, j int) bool { return load[i] == "crc32c_generic" && load[j] != "crc32c_generic" })
	return release, load, nil
}

// closure lists what m needs as depmod does: every module before the
// modules it uses (busybox modprobe loads the list from the end).
func closure(m string, deps map[string][]string) []string {
	var post []string
	seen := map[string]bool{}
	var visit func(string)
	visit = func(x string) {
		for _, d := range deps[x] {
			if !seen[d] {
				seen[d] = true
				visit(d)
				post = append(post, d)
			}
		}
	}
	visit(m)
	slices.Reverse(post)
	return post
}

func prefixSpace(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return " " + strings.Join(s, " ")
}

// moduleDepends reads the depends= entry of a module's .modinfo section.
func moduleDepends(file string) ([]string, error) {
	f, err := elf.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("%s has no .modinfo section", file)
	}
	b, err := sec.Data()
	if err != nil {
		return nil, err
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if v, ok := strings.CutPrefix(kv, "depends="); ok && v != "" {
			return strings.Split(v, ","), nil
		}
	}
	return nil, nil
}
