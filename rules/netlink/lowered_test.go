package netlink

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/netlink/nltest"
)

// TestLoweredParity: every example lowered for a kernel without @ih (the
// clear-to-send rules become one rule per TCP data offset) is valid `nft
// -f` text, loads over netlink to the same kernel objects as through nft,
// and reads back to the same text, so diff stays clean on such a kernel.
func TestLoweredParity(t *testing.T) {
	nltest.RequireNFT(t)
	noInner := &rules.Kernel{Release: "test", Has: map[rules.Feature]bool{rules.FeatPayloadInner: false}}
	tested := 0
	for _, path := range nltest.Examples(t) {
		tbl, err := rules.Lower(nltest.Compile(t, path), noInner)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !strings.Contains(tbl.String(), "tcp doff") {
			continue
		}
		tested++
		name := exampleName(path)
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
	if tested == 0 {
		t.Fatal("no example has a clear-to-send rule to lower")
	}
}
