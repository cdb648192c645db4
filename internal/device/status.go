package device

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/devfence/devfence/internal/sortby"
	"github.com/devfence/devfence/rules"
)

// Report is the state of devfence's table: whether it is in force and
// matches the profile, who consents, how much of each quota is used, and
// what the final drop rules counted.
type Report struct {
	Table   string `json:"table"`
	NetNS   string `json:"netns,omitempty"` // the --netns name, "" for the caller's
	InForce bool   `json:"in_force"`
	// Matches is nil when no profile was given.
	Matches   *bool         `json:"matches_profile,omitempty"`
	Profile   string        `json:"profile,omitempty"`
	Consent   []Peer        `json:"consenting_peers"`
	Quotas    []Quota       `json:"quotas"`
	Drops     []DropCounter `json:"drops"`
	Pending   *Pending      `json:"pending_confirmation,omitempty"`
	Unmatched int           `json:"unrecognised_statements,omitempty"`
	// Applied is the last apply recorded in the state dir; nil when none.
	Applied *Applied `json:"applied,omitempty"`
	// Policies are the base chains' default verdicts.
	Policies []ChainPolicy `json:"default_policies"`
}

// Applied is what the last apply recorded. InForce says whether the
// live table is still the one it put in force (same digest): when not,
// someone changed or replaced the table since, and the rest is history.
type Applied struct {
	At            time.Time `json:"at"`
	Profile       string    `json:"profile,omitempty"`
	ProfileSHA256 string    `json:"profile_sha256,omitempty"`
	InForce       bool      `json:"in_force"`
}

// ChainPolicy is a base chain's hook and default verdict.
type ChainPolicy struct {
	Chain  string `json:"chain"`
	Hook   string `json:"hook"`
	Policy string `json:"policy"`
}

// Peer is a consenting peer and how long its consent lasts without more
// packets of its consent session.
type Peer struct {
	Address string   `json:"address"`
	Set     string   `json:"set"`
	Expires Duration `json:"expires_in_s"`
}

// Quota is one metered budget: a dynamic set whose elements carry quotas.
type Quota struct {
	Set     string      `json:"set"`
	Comment string      `json:"comment,omitempty"`
	Budget  uint64      `json:"budget_bytes"`
	Window  Duration    `json:"window_s"`
	Peers   []QuotaUsed `json:"peers"`
	// Bucket: the kernel meters with a byte token bucket
	// (rules.QuotaBucket), which does not report what was used.
	Bucket bool `json:"use_unknown,omitempty"`
}

// QuotaUsed is what one destination (or family, for egress.total) used.
type QuotaUsed struct {
	Key    string   `json:"key"`
	Used   uint64   `json:"used_bytes"`
	Budget uint64   `json:"budget_bytes"`
	Resets Duration `json:"resets_in_s"`
}

// DropCounter is the counter of a chain's final drop rule.
type DropCounter struct {
	Chain   string `json:"chain"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// Pending is an unconfirmed apply.
type Pending struct {
	PID      int       `json:"pid"`
	Deadline time.Time `json:"deadline"`
	Waiting  bool      `json:"waiting"`
	Profile  string    `json:"profile,omitempty"`
}

// Duration is shown as Go duration text ("59m12s") and marshals as a
// number of seconds, as every duration in devfence's JSON does (keys end
// in _s; docs/JSON.md).
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).Round(time.Second).String() }

// MarshalJSON writes whole seconds: the kernel's timeouts are what is
// shown, and a person or a script needs no finer grain for them.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(int64(time.Duration(d).Round(time.Second) / time.Second))
}

// Status reads the live table family/name and, if profile is not nil,
// compares it with the compiled profile. A missing table is a report with
// InForce false, not an error.
func Status(k Kernel, family, name string, profile *rules.Table, stateDir string) (*Report, error) {
	r := &Report{Table: family + " " + name, Consent: []Peer{}, Quotas: []Quota{}, Drops: []DropCounter{}, Policies: []ChainPolicy{}}
	live, err := readLive(k, family, name)
	if err != nil {
		return nil, err
	}
	if profile != nil {
		m := live != nil && live.String() == profile.String()
		r.Matches = &m
	}
	st, err := storeOf(k, stateDir, family, name)
	if err != nil {
		return nil, err
	}
	s, err := st.load()
	if err != nil {
		return nil, err
	}
	if s.Pending != nil && s.Pending.Kind == kindConfirm {
		pe := pendingError(s.Pending).(*PendingError)
		r.Pending = &Pending{PID: pe.PID, Deadline: pe.Deadline, Waiting: pe.Alive, Profile: pe.Profile}
	}
	if a := s.Applied; a != nil {
		r.Applied = &Applied{At: a.At, Profile: a.Profile, ProfileSHA256: a.ProfileSHA256, InForce: live != nil && digest(live) == a.Table}
	}
	if live == nil {
		return r, nil
	}
	r.InForce = true
	for _, ch := range live.Chains {
		if ch.Hook != "" {
			r.Policies = append(r.Policies, ChainPolicy{Chain: ch.Name, Hook: string(ch.Hook), Policy: string(ch.Policy)})
		}
	}

	// The rules say which sets hold consent (updated without a quota) and
	// which meter (added to with a quota); the names are the compiler's
	// business.
	consent, quotas, buckets := map[string]bool{}, map[string]uint64{}, map[string]bool{}
	for _, ch := range live.Chains {
		for _, rule := range ch.Rules {
			for _, s := range rule.Stmts {
				switch s := s.(type) {
				case rules.DynsetUpdate:
					if s.Quota > 0 {
						quotas[s.Set] = s.Quota
					} else if l := s.Limit; l != nil && l.Bytes {
						// The profile's budget: the bucket passes n-1 bytes.
						quotas[s.Set], buckets[s.Set] = l.Rate+uint64(l.Burst)+1, true
					} else if s.Op == rules.SetUpdate {
						consent[s.Set] = true
					}
				case rules.Raw:
					r.Unmatched++
				}
			}
		}
	}
	for _, s := range live.Sets {
		switch {
		case consent[s.Name]:
			for _, e := range s.Elements {
				r.Consent = append(r.Consent, Peer{Address: e.String(), Set: s.Name, Expires: Duration(e.Expires)})
			}
		case quotas[s.Name] > 0:
			q := Quota{Set: s.Name, Comment: s.Comment, Budget: quotas[s.Name], Window: Duration(s.Timeout), Peers: []QuotaUsed{}, Bucket: buckets[s.Name]}
			for _, e := range s.Elements {
				key := e.String()
				if s.Key == rules.KeyNFProto {
					key = map[byte]string{2: "ipv4", 10: "ipv6"}[e.Proto]
				}
				budget := e.QuotaMax
				if q.Bucket {
					budget = q.Budget
				}
				q.Peers = append(q.Peers, QuotaUsed{Key: key, Used: e.QuotaUsed, Budget: budget, Resets: Duration(e.Expires)})
			}
			sortby.Func(q.Peers, func(a, b QuotaUsed) int { return cmp.Or(cmp.Compare(b.Used, a.Used), strings.Compare(a.Key, b.Key)) })
			r.Quotas = append(r.Quotas, q)
		}
	}
	sortby.Func(r.Consent, func(a, b Peer) int { return strings.Compare(a.Address, b.Address) })
	for _, ch := range live.Chains {
		if ch.Hook != rules.HookInput && ch.Hook != rules.HookOutput {
			continue
		}
		for i := len(ch.Rules) - 1; i >= 0; i-- {
			if c, ok := dropCounter(ch.Rules[i]); ok {
				r.Drops = append(r.Drops, DropCounter{Chain: ch.Name, Packets: c.Packets, Bytes: c.Bytes})
				break
			}
		}
	}
	return r, nil
}

// dropCounter finds `counter ... drop` in a rule.
func dropCounter(r *rules.Rule) (rules.Counter, bool) {
	var c *rules.Counter
	for _, s := range r.Stmts {
		switch s := s.(type) {
		case rules.Counter:
			c = &s
		case rules.Verdict:
			if s.Kind == rules.Drop && c != nil {
				return *c, true
			}
		}
	}
	return rules.Counter{}, false
}

// Text is the report for a person: HeaderText, then LiveText.
func (r *Report) Text() string { return r.HeaderText() + r.LiveText() }

// HeaderText is what is in force and since when: the table, the last
// apply, the chains' default policies and any pending confirmation.
func (r *Report) HeaderText() string {
	var b strings.Builder
	if !r.InForce {
		fmt.Fprintf(&b, "table %s: not in force\n", r.Table)
	} else {
		fmt.Fprintf(&b, "table %s: in force", r.Table)
		if r.Matches != nil {
			if *r.Matches {
				fmt.Fprintf(&b, ", matches the profile")
			} else {
				fmt.Fprintf(&b, ", DIFFERS from the profile (see devfence diff)")
			}
		}
		b.WriteString("\n")
	}
	if p := r.Pending; p != nil {
		if p.Waiting {
			fmt.Fprintf(&b, "pending: apply (pid %d) waits for `devfence confirm` until %s\n", p.PID, p.Deadline.Local().Format(time.TimeOnly))
		} else {
			fmt.Fprintf(&b, "pending: an unconfirmed apply (pid %d, deadline %s) was interrupted: run devfence confirm or devfence rollback\n",
				p.PID, p.Deadline.Local().Format(time.DateTime))
		}
	}
	if a := r.Applied; a != nil {
		fmt.Fprintf(&b, "applied: %s", a.At.UTC().Format("2006-01-02 15:04:05 UTC"))
		if a.Profile != "" {
			fmt.Fprintf(&b, " from %s", a.Profile)
		}
		if a.ProfileSHA256 != "" {
			fmt.Fprintf(&b, " (sha256 %s)", a.ProfileSHA256[:12])
		}
		if !a.InForce {
			b.WriteString("; the table has changed since (see devfence diff)")
		}
		b.WriteString("\n")
	}
	if len(r.Policies) > 0 {
		var ps []string
		for _, p := range r.Policies {
			ps = append(ps, p.Policy+" ("+p.Chain+")")
		}
		fmt.Fprintf(&b, "default: %s\n", strings.Join(ps, ", "))
	}
	return b.String()
}

// LiveText is the datapath's state: consent, quota use, drops.
func (r *Report) LiveText() string {
	var b strings.Builder
	if !r.InForce {
		return ""
	}
	fmt.Fprintf(&b, "consenting peers: %d\n", len(r.Consent))
	for _, p := range r.Consent {
		fmt.Fprintf(&b, "  %-40s %s left\n", p.Address, p.Expires)
	}
	for _, q := range r.Quotas {
		label := q.Comment
		if label == "" {
			label = q.Set
		}
		fmt.Fprintf(&b, "quota %s (set %s): %d in use\n", label, q.Set, len(q.Peers))
		for _, u := range q.Peers {
			if q.Bucket {
				fmt.Fprintf(&b, "  %-40s use not reported by this kernel's meter, resets in %s\n", u.Key, u.Resets)
				continue
			}
			fmt.Fprintf(&b, "  %-40s %s of %s used, resets in %s\n", u.Key, iec(u.Used), iec(u.Budget), u.Resets)
		}
	}
	for _, d := range r.Drops {
		fmt.Fprintf(&b, "dropped in %s: %d packets, %s\n", d.Chain, d.Packets, iec(d.Bytes))
	}
	if r.Unmatched > 0 {
		fmt.Fprintf(&b, "note: %d statements in the live table are not devfence's (see devfence diff)\n", r.Unmatched)
	}
	return b.String()
}

// iec writes a byte count with an IEC unit, as profiles do.
func iec(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", v), "0"), ".") + units[i]
}
