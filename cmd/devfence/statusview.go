package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/devfence/devfence/compiler"
	"github.com/devfence/devfence/internal/sha256lite"
)

// fileSHA256 is the digest status compares with the one apply recorded.
func fileSHA256(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return sha256lite.Hex(data), nil
}

// profileView is what status shows of the profile in force: its intent,
// as the operator wrote it (docs/JSON.md, status).
type profileView struct {
	Source      string        `json:"source"`
	Device      string        `json:"device"`
	Description string        `json:"description,omitempty"`
	Inbound     inboundView   `json:"inbound"`
	Egress      egressView    `json:"egress"`
	Log         logView       `json:"log"`
	Consent     consentView   `json:"consent"`
	Essentials  essentialView `json:"essentials"`
}

type inboundView struct {
	Policy   string        `json:"policy"`
	Services []serviceView `json:"services"`
}

type serviceView struct {
	Name    string   `json:"name"`
	Proto   string   `json:"proto"`
	Port    string   `json:"port,omitempty"`
	Types   []string `json:"types,omitempty"`
	From    []string `json:"from"`
	Consent bool     `json:"consent"`
}

type egressView struct {
	Quota *quotaView  `json:"quota,omitempty"` // per destination, for rules without their own
	Total *quotaView  `json:"total,omitempty"`
	Allow []allowView `json:"allow"`
}

type allowView struct {
	Name  string     `json:"name"`
	To    []string   `json:"to"`
	Proto string     `json:"proto"`
	Port  string     `json:"port,omitempty"`
	Types []string   `json:"types,omitempty"`
	Quota *quotaView `json:"quota,omitempty"`
}

type quotaView struct {
	BudgetBytes uint64 `json:"budget_bytes"`
	WindowS     int64  `json:"window_s"`
	text        string
}

type consentView struct {
	IdleS int64 `json:"idle_s"`
	Peers int   `json:"peers"`
}

type logView struct {
	Drops string `json:"drops"` // "N/UNIT" per chain, or "0": no drop is logged
	Group int    `json:"group"`
}

type essentialView struct {
	Loopback bool   `json:"loopback"`
	DHCP     bool   `json:"dhcp"`
	IPv6ND   bool   `json:"ipv6_nd"`
	ICMP     string `json:"icmp"`
}

func newProfileView(source string, p *compiler.Profile) *profileView {
	v := &profileView{Source: source, Device: p.Device.Name, Description: p.Device.Description,
		Inbound: inboundView{Policy: p.Inbound.Policy, Services: []serviceView{}},
		Egress:  egressView{Quota: newQuotaView(p.Egress.Quota), Total: newQuotaView(p.Egress.Total), Allow: []allowView{}},
		Log:     logView{Drops: rateText(p.Log.Drops), Group: p.Log.Group},
		Consent: consentView{IdleS: int64(time.Duration(p.Consent.Idle).Seconds()), Peers: p.Consent.Peers},
		Essentials: essentialView{Loopback: p.Essentials.Loopback, DHCP: p.Essentials.DHCP,
			IPv6ND: p.Essentials.IPv6ND, ICMP: p.Essentials.ICMP},
	}
	for _, s := range p.Inbound.Services {
		sv := serviceView{Name: s.Name, Proto: s.Proto, Types: s.Types, From: targets(s.From), Consent: s.Consent}
		if !s.Port.IsZero() {
			sv.Port = s.Port.String()
		}
		v.Inbound.Services = append(v.Inbound.Services, sv)
	}
	for _, a := range p.Egress.Allow {
		av := allowView{Name: a.Name, To: targets(a.To), Proto: a.Proto, Types: a.Types, Quota: newQuotaView(a.Quota)}
		if !a.Port.IsZero() {
			av.Port = a.Port.String()
		}
		v.Egress.Allow = append(v.Egress.Allow, av)
	}
	return v
}

// portOrTypes fills the text form's port column: a rule has a port (tcp,
// udp) or ICMP types, never both.
func portOrTypes(port string, types []string) string {
	if len(types) > 0 {
		return strings.Join(types, ",")
	}
	return port
}

func newQuotaView(q *compiler.Quota) *quotaView {
	if q == nil {
		return nil
	}
	return &quotaView{BudgetBytes: q.Bytes, WindowS: int64(q.Window.Seconds()), text: q.String()}
}

func rateText(r compiler.Rate) string {
	if r.N == 0 {
		return "0"
	}
	return fmt.Sprintf("%d/%s", r.N, r.Unit)
}

func targets(t compiler.Targets) []string {
	if t.Any {
		return []string{"any"}
	}
	out := []string{}
	for _, r := range t.Refs {
		switch {
		case r.Network != "":
			out = append(out, r.Network)
		case r.Address != nil && r.Address.Host != "":
			out = append(out, r.Address.Host)
		case r.Address != nil:
			out = append(out, r.Address.Prefix.String())
		}
	}
	return out
}

// Text is the profile's part of status, ufw-status-verbose style.
func (v *profileView) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "device: %s", v.Device)
	if v.Description != "" {
		fmt.Fprintf(&b, " (%s)", v.Description)
	}
	fmt.Fprintf(&b, ", profile %s\n", v.Source)
	fmt.Fprintf(&b, "inbound: %s, %d service(s)\n", v.Inbound.Policy, len(v.Inbound.Services))
	for _, s := range v.Inbound.Services {
		consent := ""
		if s.Consent {
			consent = "  consent"
		}
		fmt.Fprintf(&b, "  %-16s %-4s %-11s from %s%s\n", s.Name, s.Proto, portOrTypes(s.Port, s.Types), strings.Join(s.From, ","), consent)
	}
	fmt.Fprintf(&b, "egress: %d rule(s), everything else dropped\n", len(v.Egress.Allow))
	for _, a := range v.Egress.Allow {
		q := "default quota"
		if a.Quota != nil {
			q = "quota " + a.Quota.text
		}
		fmt.Fprintf(&b, "  %-16s %-4s %-11s to %s  %s\n", a.Name, a.Proto, portOrTypes(a.Port, a.Types), strings.Join(a.To, ","), q)
	}
	var quotas []string
	if v.Egress.Quota != nil {
		quotas = append(quotas, "default quota "+v.Egress.Quota.text+" per destination")
	}
	if v.Egress.Total != nil {
		quotas = append(quotas, "total "+v.Egress.Total.text)
	}
	if len(quotas) > 0 {
		fmt.Fprintf(&b, "  %s\n", strings.Join(quotas, "; "))
	}
	if v.Log.Drops == "0" {
		b.WriteString("log: no drops logged\n")
	} else {
		fmt.Fprintf(&b, "log: drops %s per chain to NFLOG group %d (devfence watch)\n", v.Log.Drops, v.Log.Group)
	}
	return b.String()
}
