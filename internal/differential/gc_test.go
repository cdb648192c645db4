package differential

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/devfence/devfence/internal/netlab"
	"github.com/devfence/devfence/rules"
	"github.com/devfence/devfence/rules/trace"
)

// The kernel counts an expired element against its set's size until
// garbage collection removes it. Collection runs about once a second, but
// on a loaded machine (CI runs twenty labs on two cores) it can lag the
// wait by more: a peer table the tracer sees empty is then still full in
// the kernel, its next add fails, and from there the two count a peer's
// bytes from different starts (a CI run disagreed that way on seed 4). So
// after each wait, settle proves the kernel has room: one transaction adds
// fresh keys to every dynamic set and deletes them again. The kernel
// refuses the add (ENFILE) while expired elements still take the room,
// and otherwise commits nothing.

// gcPatience is how long settle waits for the kernel to collect; past it
// the sequence is not judged (errTiming).
const gcPatience = 8 * time.Second

// gcPoll spaces the probes: each transaction makes a collection round
// running at that moment start over, so probing faster delays what it
// waits for.
const gcPoll = 250 * time.Millisecond

// settle returns once the kernel's dynamic sets hold no more elements
// than the tracer's, as far as the next adds reach: up to room new
// elements per set.
func (e *env) settle(tr *trace.Tracer, room int) error {
	probe := gcProbe(e.table, tr.Elements(), room)
	if probe == "" {
		return nil
	}
	start := time.Now()
	for try := 0; ; try++ {
		err := e.device.NFT(probe)
		if err == nil {
			return nil
		}
		if !setFull(err) {
			return fmt.Errorf("probe the sets' room: %w", err)
		}
		if try == 0 {
			e.gcLags++
		}
		if time.Since(start) > gcPatience {
			return fmt.Errorf("the kernel still held expired set elements %v after the wait: %w", gcPatience, errTiming)
		}
		time.Sleep(gcPoll)
	}
}

// setFull reports whether nft failed with the kernel's ENFILE, which it
// returns for an add to a set at its size.
func setFull(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Too many open files")
}

// gcProbe is the transaction that adds, then deletes, min(free, room)
// keys no element holds to each dynamic set with a size, where free is the
// set's size less the tracer's live elements. It is "" if no set needs it.
func gcProbe(t *rules.Table, live []trace.Element, room int) string {
	taken := map[string]map[string]bool{}
	for _, el := range live {
		if taken[el.Set] == nil {
			taken[el.Set] = map[string]bool{}
		}
		taken[el.Set][el.Key] = true
	}
	var b strings.Builder
	for _, s := range t.Sets {
		if !s.Dynamic() || s.Size == 0 {
			continue
		}
		n := min(int(s.Size)-len(taken[s.Name]), room)
		if n <= 0 {
			continue
		}
		keys := strings.Join(probeKeys(s.Key, n, taken[s.Name]), ", ")
		for _, verb := range []string{"add", "delete"} {
			fmt.Fprintf(&b, "%s element %s %s %s { %s }\n", verb, t.Family, t.Name, s.Name, keys)
		}
	}
	return b.String()
}

// probeKeys are n keys of type k that no lab host uses and taken lacks:
// 0.0.0.x, 100::x (the IPv6 discard prefix) or a family number that is
// neither IPv4 (2) nor IPv6 (10).
func probeKeys(k rules.KeyType, n int, taken map[string]bool) []string {
	var keys []string
	for i := 1; len(keys) < n; i++ {
		var key string
		switch k {
		case rules.KeyIPv4:
			key = netip.AddrFrom4([4]byte{0, 0, byte(i >> 8), byte(i)}).String()
		case rules.KeyIPv6:
			key = netip.MustParseAddr(fmt.Sprintf("100::%x", i)).String()
		default: // rules.KeyNFProto
			if i == 2 || i == 10 {
				continue
			}
			key = fmt.Sprint(i)
		}
		if !taken[key] {
			keys = append(keys, key)
		}
	}
	return keys
}

// TestSettleWaitsForRoom fills the lab profile's peer table (2 peers) in
// the kernel behind a tracer that saw nothing: the probe must find no
// room while the elements live, and settle must return once they have
// expired and been collected.
func TestSettleWaitsForRoom(t *testing.T) {
	netlab.RequireTool(t, "nft")
	e := newEnv(t, netlab.New(t, netlab.WithVictims(4)), writeLabProfile(t), false)
	if err := e.device.NFT(rules.Replace(e.table).String()); err != nil {
		t.Fatal(err)
	}
	out := bind(t, e.device, netip.AddrPortFrom(e.device.V4, 19999))
	for _, p := range e.peers[:2] {
		got, err := out.send(netip.AddrPortFrom(p.v4, 123), 100, 1)
		if err != nil || !got[0] {
			t.Fatalf("ntp to %s: let out %v, %v; want true", p, got, err)
		}
	}
	tr := trace.New(e.table, e.device.Addrs())
	err := e.device.NFT(gcProbe(e.table, tr.Elements(), 16))
	if !setFull(err) {
		t.Fatalf("probe with the peer table full: %v; want ENFILE", err)
	}
	start := time.Now()
	if err := e.settle(tr, 16); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("settle returned after %v, before the 2 s window ended", took)
	}
	// Room again: the probe changed nothing, so a third peer fits.
	if got, err := out.send(netip.AddrPortFrom(e.peers[2].v4, 123), 100, 1); err != nil || !got[0] {
		t.Errorf("ntp to %s after settle: let out %v, %v; want true", e.peers[2], got, err)
	}
}
