package kernellab

import (
	"debug/elf"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// addNFT puts the suite's nft(8) into r with the shared libraries it
// loads: the traffic suite's attack scenarios and the parity test drive
// nft directly. sysroots are the unpacked packages of nftables' dependency
// closure; each library goes where the dynamic loader looks for it (the
// directory it has in its package, symlinks followed).
func addNFT(r *initramfs, sysroots []string) error {
	find := func(rel string) (string, error) {
		for _, root := range sysroots {
			if p, err := resolve(root, rel); err == nil {
				return p, nil
			}
		}
		return "", os.ErrNotExist
	}
	bin, err := find("usr/sbin/nft")
	if err != nil {
		return fmt.Errorf("nftables package has no usr/sbin/nft")
	}
	if err := r.addFile("usr/sbin/nft", bin); err != nil {
		return err
	}
	libDirs := map[string]bool{}
	for _, root := range sysroots {
		for _, pat := range []string{"lib", "lib/*-linux-*", "usr/lib", "usr/lib/*-linux-*", "lib64"} {
			ds, _ := filepath.Glob(filepath.Join(root, pat))
			for _, d := range ds {
				if st, err := os.Stat(d); err == nil && st.IsDir() {
					rel, _ := filepath.Rel(root, d)
					libDirs[rel] = true
				}
			}
		}
	}
	done := map[string]bool{}
	var need func(file string) error
	need = func(file string) error {
		f, err := elf.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				b := make([]byte, p.Filesz)
				if _, err := p.ReadAt(b, 0); err != nil {
					return err
				}
				interp := strings.TrimRight(string(b), "\x00")
				if !done[interp] {
					done[interp] = true
					src, err := find(interp)
					if err != nil {
						return fmt.Errorf("dynamic loader %s of %s not in nftables' dependencies", interp, file)
					}
					if err := r.addFile(interp, src); err != nil {
						return err
					}
				}
			}
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			return err
		}
		for _, lib := range libs {
			if done[lib] {
				continue
			}
			done[lib] = true
			var src, at string
			for d := range libDirs {
				if p, err := find(path.Join(d, lib)); err == nil {
					src, at = p, path.Join(d, lib)
					break
				}
			}
			if src == "" {
				return fmt.Errorf("%s needs %s, which no package of nftables' dependencies holds", file, lib)
			}
			if err := r.addFile(at, src); err != nil {
				return err
			}
			if err := need(src); err != nil {
				return err
			}
		}
		return nil
	}
	return need(bin)
}

// resolve follows symlinks of rel inside root (absolute targets are
// relative to root, not to the host) to a regular file.
func resolve(root, rel string) (string, error) {
	for range 16 {
		p := filepath.Join(root, rel)
		st, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		if st.Mode()&os.ModeSymlink == 0 {
			return p, nil
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(rel), target)
		}
		rel = target
	}
	return "", fmt.Errorf("%s: too many symlinks", rel)
}
