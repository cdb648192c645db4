package mud

// Reasons an ACE is not imported, as Report gives them: short words that a
// table of many files can count.
const (
	ReasonEthernet     = "ethernet"          // an ethernet (layer 2) match: ethertype, MAC address
	ReasonDefective    = "defective"         // the ACE breaks RFC 8519/8520 and was skipped (Result.Skipped)
	ReasonUnsupported  = "unsupported-match" // a match devfence has no field for (DSCP, TCP flags, ICMP code, ...)
	ReasonDeviceAddr   = "device-address"    // it names the device's own address
	ReasonDevicePort   = "device-port"       // an egress ACE fixes the device's own port
	ReasonPeerPort     = "peer-port"         // an inbound ACE fixes the peer's port
	ReasonNoPort       = "no-port"           // its port match matches no port from 1 to 65535
	ReasonIntersection = "intersection"      // the peer must be two things at once
	ReasonDropOverlap  = "drop-overlap"      // an earlier drop ACE may carve an exception out of it
	ReasonDirection    = "direction-unknown" // a to-device tcp/udp ACE that does not say who opens
	ReasonUnreferenced = "unreferenced"      // its ACL is in neither policy
)

// Report counts what became of the file's ACEs.
type Report struct {
	ACEs    int // ACEs in the file's ACLs
	Rules   int // rules in the profile: egress.allow plus inbound.services
	Replies int // ACEs that only carry replies, which inbound.policy lets through
	Drops   int // drop and reject ACEs, not needed: devfence drops what no rule allows
	// Essentials are the DHCP client ACEs, which essentials.dhcp allows.
	Essentials int
	// NotImported lists each ACE that became no rule and is neither a reply
	// nor a drop, in the order the policies read them (unreferenced ACLs
	// last).
	NotImported []ACEOutcome
}

// ACEOutcome is one ACE that was not imported, and why.
type ACEOutcome struct {
	Path   string // JSON path of the ACE, e.g. acls.acl[0].aces.ace[3]
	Name   string // ACL/ACE
	Reason string // one of the Reason constants
}

// aceFate is what became of one ACE.
type aceFate struct {
	path, name string
	kind       string // "rule", "reply", "essential", "drop" or "not-imported"
	reason     string // for not-imported
}

// fateRank orders the outcomes of one ACE read by both policies (its ACL
// is referenced from each): what it became in one of them counts.
var fateRank = map[string]int{"not-imported": 0, "drop": 0, "essential": 1, "reply": 1, "rule": 2}

// outcome records what became of the ACE at path. An ACE read twice counts
// once, as the best of its outcomes: a rule, else a reply.
func (c *converter) outcome(path, name, kind, reason string) {
	if f := c.fateAt[path]; f != nil {
		if fateRank[kind] > fateRank[f.kind] {
			f.kind, f.reason = kind, reason
		}
		return
	}
	f := &aceFate{path: path, name: name, kind: kind, reason: reason}
	if c.fateAt == nil {
		c.fateAt = map[string]*aceFate{}
	}
	c.fateAt[path] = f
	c.fates = append(c.fates, f)
}

func (c *converter) makeReport() Report {
	r := Report{ACEs: c.acesIn, Rules: len(c.rules)}
	for _, f := range c.fates {
		switch f.kind {
		case "reply":
			r.Replies++
		case "drop":
			r.Drops++
		case "essential":
			r.Essentials++
		case "not-imported":
			r.NotImported = append(r.NotImported, ACEOutcome{Path: f.path, Name: f.name, Reason: f.reason})
		}
	}
	return r
}
