package kernellab

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// initramfs is the VM's root file system, written as a gzip'd newc cpio
// archive (what the kernel unpacks into its rootfs).
type initramfs struct {
	files map[string]entry // by path, without a leading slash
}

type entry struct {
	mode uint32 // type and permission bits
	data []byte // file contents or symlink target
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeLink = 0o120000
)

func newInitramfs() *initramfs { return &initramfs{files: map[string]entry{}} }

func (r *initramfs) mkdirs(p string) {
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		if _, ok := r.files[d]; !ok {
			r.files[d] = entry{mode: modeDir | 0o755}
		}
	}
}

// add puts data at p with permission perm.
func (r *initramfs) add(p string, data []byte, perm uint32) {
	p = strings.TrimPrefix(path.Clean(p), "/")
	r.mkdirs(p)
	r.files[p] = entry{mode: modeFile | perm, data: data}
}

// addFile copies the host file src to p, following symlinks.
func (r *initramfs) addFile(p, src string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	r.add(p, b, uint32(st.Mode().Perm()))
	return nil
}

func (r *initramfs) dir(p string) {
	p = strings.TrimPrefix(path.Clean(p), "/")
	r.mkdirs(p)
	r.files[p] = entry{mode: modeDir | 0o755}
}

func (r *initramfs) symlink(p, target string) {
	p = strings.TrimPrefix(path.Clean(p), "/")
	r.mkdirs(p)
	r.files[p] = entry{mode: modeLink | 0o777, data: []byte(target)}
}

// size is the uncompressed size of the contents.
func (r *initramfs) size() int64 {
	var n int64
	for _, e := range r.files {
		n += int64(len(e.data))
	}
	return n
}

// write writes the archive; parents sort before their children.
func (r *initramfs) write(w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(r.files))
	for p := range r.files {
		names = append(names, p)
	}
	sort.Strings(names)
	ino := 1
	hdr := func(name string, mode uint32, size int) error {
		ino++
		nlink := 1
		if mode&0o170000 == modeDir {
			nlink = 2
		}
		if _, err := fmt.Fprintf(zw, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\x00",
			ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name)+1, 0, name); err != nil {
			return err
		}
		return pad(zw, 110+len(name)+1)
	}
	for _, name := range names {
		e := r.files[name]
		if err := hdr(name, e.mode, len(e.data)); err != nil {
			return err
		}
		if _, err := zw.Write(e.data); err != nil {
			return err
		}
		if err := pad(zw, len(e.data)); err != nil {
			return err
		}
	}
	if err := hdr("TRAILER!!!", 0, 0); err != nil {
		return err
	}
	return zw.Close()
}

// pad aligns the archive to 4 bytes after n bytes of a record.
func pad(w io.Writer, n int) error {
	if r := n % 4; r != 0 {
		_, err := w.Write(make([]byte, 4-r))
		return err
	}
	return nil
}
