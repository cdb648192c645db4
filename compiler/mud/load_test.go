package mud_test

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/devfence/devfence/compiler"
)

// importedRule is a rule of an imported profile as its YAML says it.
type importedRule struct {
	Name  string   `yaml:"name"`
	Proto string   `yaml:"proto"`
	Port  any      `yaml:"port"`
	Types []string `yaml:"types"`
	To    any      `yaml:"to"`
	From  []string `yaml:"from"`
}

type importedProfile struct {
	Inbound struct {
		Services []importedRule `yaml:"services"`
	} `yaml:"inbound"`
	Egress struct {
		Allow []importedRule `yaml:"allow"`
	} `yaml:"egress"`
}

// newProtoDiag is what the loader says, until it learns PROFILE.md's
// protocols beyond tcp and udp, about a rule of one of them: its proto is
// not tcp or udp, and it has no port.
var newProtoDiag = regexp.MustCompile(`^(inbound\.services|egress\.allow)\[(\d+)\]\.(proto|port)$`)

// loadProfile loads an imported profile with the compiler's loader and
// summarises its rules, one line each. The loader of this tree knows tcp
// and udp only; the import also writes icmp, igmp, any and protocol
// numbers (PROFILE.md), which another change teaches the loader. So
// exactly the loader's complaints about those rules' proto and port are
// let through (p is then nil); any other diagnostic fails the test. The
// summary is read from the YAML, so that it exists either way.
func loadProfile(t *testing.T, name string, data []byte) (p *compiler.Profile, summary []string) {
	t.Helper()
	var y importedProfile
	if err := yaml.Unmarshal(data, &y); err != nil {
		t.Fatalf("%s: not YAML: %v", name, err)
	}
	p, err := compiler.Parse(name, data)
	var diags compiler.Diagnostics
	if err != nil && !errors.As(err, &diags) {
		t.Fatalf("%s: %v", name, err)
	}
	for _, d := range diags {
		if m := newProtoDiag.FindStringSubmatch(d.Path); m != nil {
			list := y.Egress.Allow
			if m[1] == "inbound.services" {
				list = y.Inbound.Services
			}
			i, _ := strconv.Atoi(m[2])
			if i < len(list) && !portProto(list[i].Proto) {
				continue
			}
		}
		t.Errorf("%s: the profile does not load: %v\n--- profile:\n%s", name, d, data)
	}
	for _, r := range y.Inbound.Services {
		summary = append(summary, r.summary("in", "from", r.From))
	}
	for _, r := range y.Egress.Allow {
		summary = append(summary, r.summary("out", "to", r.To))
	}
	return p, summary
}

func portProto(p string) bool { return p == "tcp" || p == "udp" }

func (r importedRule) summary(dir, word string, peers any) string {
	s := []string{dir, r.Name, r.Proto}
	if r.Port != nil {
		s = append(s, fmt.Sprint(r.Port))
	}
	if len(r.Types) > 0 {
		s = append(s, "["+strings.Join(r.Types, ",")+"]")
	}
	switch v := peers.(type) {
	case string:
		s = append(s, word, v)
	case []any:
		var l []string
		for _, x := range v {
			l = append(l, fmt.Sprint(x))
		}
		s = append(s, word, strings.Join(l, ","))
	case []string:
		s = append(s, word, strings.Join(v, ","))
	}
	return strings.Join(s, " ")
}
