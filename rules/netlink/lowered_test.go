package netlink

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink/nltest"
)

// fittedKernels are the kernels devfence fits a table to, each with text
// only its lowered form has: without @ih (Linux 5.10: clear-to-send at each
// TCP data offset) and 32-bit ARM (set element quotas as byte buckets).
var fittedKernels = []struct {
	name   string
	k      *rules.Kernel
	marker string
}{
	{"no-ih", &rules.Kernel{Release: "test", Has: map[rules.Feature]bool{rules.FeatPayloadInner: false}}, "tcp doff"},
	{"arm32", &rules.Kernel{Release: "test", Has: map[rules.Feature]bool{rules.FeatDynsetQuota: false}}, " bytes/"},
}

// TestLoweredParity: every example fitted to each of fittedKernels is
// valid `nft -f` text, loads over netlink to the same kernel objects as
// through nft, and reads back to the same text, so diff stays clean on
// such a kernel.
func TestLoweredParity(t *testing.T) {
	nltest.RequireNFT(t)
	for _, fk := range fittedKernels {
		tested := 0
		for _, path := range nltest.Examples(t) {
			// On top of what this kernel needs (a lab kernel may lack @ih).
			tbl, err := rules.Lower(nltest.Fit(t, nltest.Compile(t, path)), fk.k)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if !strings.Contains(tbl.String(), fk.marker) {
				continue
			}
			tested++
			parity(t, fk.name+"/"+exampleName(path), tbl)
		}
		if tested == 0 {
			t.Fatalf("no example has a rule to lower for %s", fk.name)
		}
	}
}

// parity checks tbl through netlink against nft -f of its text.
func parity(t *testing.T, name string, tbl *rules.Table) {
	t.Run(name, func(t *testing.T) {
		viaNetlink, viaNft := nltest.NS(t), nltest.NS(t)
		c := open(t, viaNetlink)
		apply(t, c, tbl)
		nltest.NFT(t, viaNft, rules.Replace(tbl).String(), "-f", "-")
		if d := cmp.Diff(nltest.ListJSON(t, viaNft, tbl.Family, tbl.Name), nltest.ListJSON(t, viaNetlink, tbl.Family, tbl.Name)); d != "" {
			t.Errorf("nft -j list differs between nft -f (want) and netlink (got) (-want +got):\n%s", d)
		}
		if d := cmp.Diff(rawTable(t, open(t, viaNft), tbl.Name), rawTable(t, c, tbl.Name)); d != "" {
			t.Errorf("kernel objects differ between nft -f (want) and netlink (got) (-want +got):\n%s", d)
		}
		live, err := c.Read(tbl.Family, tbl.Name)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tbl.String(), live.String()); d != "" {
			t.Errorf("read-back renders differently (-lowered +live):\n%s", d)
		}
	})
}
