package rules

import (
	"fmt"
	"strings"
)

// Feature is a kernel capability some part of a table needs. The netlink
// package probes them (Conn.Probe); Lower fits a table to what a kernel has.
type Feature string

const (
	FeatMeta             Feature = "meta"
	FeatPayloadNetwork   Feature = "payload-network"
	FeatPayloadTransport Feature = "payload-transport"
	FeatPayloadInner     Feature = "payload-inner"
	FeatCtState          Feature = "ct-state"
	FeatCtDirection      Feature = "ct-direction"
	FeatCtStatus         Feature = "ct-status"
	FeatCtMark           Feature = "ct-mark"
	FeatCtMarkSet        Feature = "ct-mark-set"
	FeatFibSaddrType     Feature = "fib-saddr-type"
	FeatLimit            Feature = "limit"
	FeatLogGroup         Feature = "log-group"
	FeatCounter          Feature = "counter"
	FeatSetInterval      Feature = "set-interval"
	FeatSetTimeout       Feature = "set-timeout"
	FeatDynsetUpdate     Feature = "dynset-update"
	FeatDynsetQuota      Feature = "dynset-quota"
	FeatDynsetLimit      Feature = "dynset-limit"
)

// Features lists every feature with what it means, in the order the probe
// reports them.
var Features = []struct {
	Feature Feature
	What    string
}{
	{FeatMeta, "meta nfproto, l4proto, iif, oif"},
	{FeatPayloadNetwork, "network header payload (addresses, hop limit)"},
	{FeatPayloadTransport, "transport header payload (@th: ports, tcp flags, tcp doff, raw)"},
	{FeatPayloadInner, "inner header payload (@ih, payload base 3: transport payload)"},
	{FeatCtState, "ct state"},
	{FeatCtDirection, "ct direction"},
	{FeatCtStatus, "ct status"},
	{FeatCtMark, "ct mark match"},
	{FeatCtMarkSet, "ct mark set"},
	{FeatFibSaddrType, "fib saddr type"},
	{FeatLimit, "limit rate"},
	{FeatLogGroup, "log group (NFLOG)"},
	{FeatCounter, "counter"},
	{FeatSetInterval, "interval sets (address prefixes)"},
	{FeatSetTimeout, "dynamic sets with timeout and size"},
	{FeatDynsetUpdate, "set update from the packet path"},
	{FeatDynsetQuota, "set add with a per-element quota"},
	{FeatDynsetLimit, "set add with a per-element limit"},
}

// Kernel is what a probe found: the kernel's release and, per feature,
// whether it has it.
type Kernel struct {
	Release string
	Has     map[Feature]bool
	// Notes says why a feature the kernel takes counts as missing.
	Notes map[Feature]string `json:",omitempty"`
}

// ElementQuotaNote is why a set element's quota counts as missing on a
// 32-bit ARM kernel (uname -m armv6* or armv7*), or "". Such a kernel adds
// the element, then faults when a packet reaches its quota: the quota's
// 64-bit counter is updated with LDREXD/STREXD, which need 8-byte
// alignment, and Linux 5.10 up to at least 5.10.223 places a hash set
// element's data at 4 bytes past it (struct nft_rhash_elem is a 4-byte
// rhash_head, then the extension data, whose expression area is 8-aligned
// only relative to itself): "Unhandled fault: alignment exception", PC at
// nft_quota_eval, and the kernel oopses. Later stable kernels happen to
// align it (a u32 added before the data), but which vendor kernel has
// that cannot be probed without risking the oops, so every 32-bit ARM
// kernel gets the bucket (rules.QuotaBucket). Other 32-bit CPUs (MIPS,
// x86, ARMv5) do 64-bit atomics without that alignment need.
func ElementQuotaNote(machine string) string {
	if strings.HasPrefix(machine, "armv6") || strings.HasPrefix(machine, "armv7") {
		return "a 32-bit ARM kernel may fault on a set element's quota (alignment); metered with a byte token bucket instead"
	}
	return ""
}

// Lacks reports whether the probe found f missing. A feature the probe did
// not try counts as present.
func (k *Kernel) Lacks(f Feature) bool {
	has, probed := k.Has[f]
	return probed && !has
}

// StmtNeeds lists the features a statement needs.
func StmtNeeds(s Stmt) []Feature {
	switch s := s.(type) {
	case Meta:
		return []Feature{FeatMeta}
	case CtState:
		return []Feature{FeatCtState}
	case CtStatus:
		return []Feature{FeatCtStatus}
	case CtMark:
		return []Feature{FeatCtMark}
	case CtMarkOr:
		return []Feature{FeatCtMark, FeatCtMarkSet}
	case CtDirection:
		return []Feature{FeatCtDirection}
	case TCPFlags, PortMatch, ICMPType, TCPDataOffset, TransportPayload, TransportPayloadPresent:
		return []Feature{FeatMeta, FeatPayloadTransport}
	case AddrMatch, HopLimit:
		return []Feature{FeatMeta, FeatPayloadNetwork}
	case InnerPayload, PayloadPresent:
		return []Feature{FeatPayloadInner}
	case FibSaddrLocal:
		return []Feature{FeatFibSaddrType}
	case Limit:
		return []Feature{FeatLimit}
	case Log:
		return []Feature{FeatLogGroup}
	case Counter:
		return []Feature{FeatCounter}
	case DynsetUpdate:
		need := []Feature{FeatSetTimeout}
		if !s.Key.NFProto {
			need = append(need, FeatMeta, FeatPayloadNetwork)
		}
		switch {
		case s.Op == SetUpdate:
			need = append(need, FeatDynsetUpdate)
		case s.Quota > 0:
			need = append(need, FeatDynsetQuota)
		case s.Limit != nil:
			need = append(need, FeatDynsetLimit)
		}
		return need
	}
	return nil
}

// SetNeeds lists the features a set declaration needs.
func SetNeeds(s *Set) []Feature {
	var need []Feature
	if s.Flags&FlagInterval != 0 {
		need = append(need, FeatSetInterval)
	}
	if s.Flags&FlagTimeout != 0 {
		need = append(need, FeatSetTimeout)
	}
	return need
}

// what is the feature's description for messages.
func (f Feature) what() string {
	for _, d := range Features {
		if d.Feature == f {
			return d.What
		}
	}
	return string(f)
}

// MissingError says which profile entry needs what the kernel lacks.
type MissingError struct {
	Origin  string // the rule's or set's comment: the profile entry
	Release string
	Feature Feature
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s: kernel %s lacks %s (%s), and devfence has no equivalent", e.Origin, e.Release, e.Feature, e.Feature.what())
}
