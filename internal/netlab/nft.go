package netlab

import (
	"encoding/json"
	"fmt"
	"time"
)

// Small nft(8) conveniences for tests. They shell out to the nft tool inside
// the host's namespace; call RequireTool(t, "nft") first.

// NFT loads a ruleset (nft -f -) into the host's namespace.
func (h *Host) NFT(ruleset string) error {
	_, err := h.ExecInput(ruleset, "nft", "-f", "-")
	return err
}

// Counter is an nftables counter value.
type Counter struct {
	Packets uint64
	Bytes   uint64
}

// NFTCounter reads the named counter object <family> <table> <name>
// (declared as "counter <name> {}" and referenced with
// `counter name "<name>"` in rules).
func (h *Host) NFTCounter(family, table, name string) (Counter, error) {
	out, err := h.Exec("nft", "-j", "list", "counter", family, table, name)
	if err != nil {
		return Counter{}, err
	}
	return parseNFTCounter(out)
}

func parseNFTCounter(jsonOut string) (Counter, error) {
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Packets uint64 `json:"packets"`
				Bytes   uint64 `json:"bytes"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(jsonOut), &doc); err != nil {
		return Counter{}, fmt.Errorf("netlab: parse nft counter JSON: %w", err)
	}
	for _, o := range doc.Nftables {
		if o.Counter != nil {
			return Counter{Packets: o.Counter.Packets, Bytes: o.Counter.Bytes}, nil
		}
	}
	return Counter{}, fmt.Errorf("netlab: no counter in nft output: %.200s", jsonOut)
}

// WaitNFTCounter polls (every 20ms, bounded by timeout) a named counter until
// it has counted at least packets packets, and returns its last value.
func (h *Host) WaitNFTCounter(family, table, name string, packets uint64, timeout time.Duration) (Counter, error) {
	var c Counter
	err := Poll(timeout, 20*time.Millisecond, func() (bool, error) {
		var err error
		c, err = h.NFTCounter(family, table, name)
		return err == nil && c.Packets >= packets, err
	})
	if err != nil {
		return c, fmt.Errorf("netlab: %s: counter %s %s %s = %d packets, want >= %d: %w",
			h.Name, family, table, name, c.Packets, packets, err)
	}
	return c, nil
}
