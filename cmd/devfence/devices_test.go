package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unit is a systemd unit file: section -> key -> values, in file order.
type unit map[string]map[string][]string

// parseUnit reads the systemd unit syntax strictly enough to catch a
// broken file where systemd-analyze is missing: sections, key=value lines,
// comments, no continuation lines (the examples use none).
func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		case section == "":
			t.Errorf("%s:%d: a line outside any section", path, n)
		case strings.HasSuffix(line, `\`):
			t.Errorf("%s:%d: continuation lines are not expected", path, n)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || strings.TrimSpace(k) == "" {
				t.Errorf("%s:%d: not key=value: %q", path, n, line)
				continue
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// has reports whether the key holds the word among its space-separated values.
func (u unit) has(section, key, word string) bool {
	for _, v := range u[section][key] {
		for _, w := range strings.Fields(v) {
			if w == word {
				return true
			}
		}
	}
	return false
}

const systemdDir = "../../examples/systemd"

// TestSystemdUnits checks what the units promise (apply at boot before the
// network, oneshot, a periodic refresh), then, where systemd-analyze is
// installed, lets systemd itself verify them.
func TestSystemdUnits(t *testing.T) {
	svc := parseUnit(t, filepath.Join(systemdDir, "devfence.service"))
	for _, c := range []struct{ section, key, word string }{
		{"Unit", "DefaultDependencies", "no"},
		{"Unit", "Before", "network-pre.target"},
		{"Unit", "Wants", "network-pre.target"},
		{"Unit", "After", "local-fs.target"},
		{"Service", "Type", "oneshot"},
		{"Service", "RemainAfterExit", "yes"},
		{"Install", "WantedBy", "sysinit.target"},
	} {
		if !svc.has(c.section, c.key, c.word) {
			t.Errorf("devfence.service: [%s] %s lacks %s", c.section, c.key, c.word)
		}
	}
	if got := svc["Service"]["ExecStart"]; len(got) != 1 || !strings.HasSuffix(got[0], "devfence apply --state-dir /var/lib/devfence /etc/devfence/profile.yaml") {
		t.Errorf("devfence.service: ExecStart = %q", got)
	}
	if got := svc["Service"]["ExecStartPre"]; len(got) != 1 || !strings.HasSuffix(got[0], "devfence rollback --if-pending --state-dir /var/lib/devfence") {
		t.Errorf("devfence.service: ExecStartPre = %q, want the boot-time rollback --if-pending", got)
	}
	if _, stop := svc["Service"]["ExecStop"]; stop {
		t.Error("devfence.service: stopping must leave the table in force (no ExecStop)")
	}

	refresh := parseUnit(t, filepath.Join(systemdDir, "devfence-refresh.service"))
	if got := refresh["Service"]["ExecStart"]; len(got) != 1 || !strings.Contains(got[0], "devfence refresh ") {
		t.Errorf("devfence-refresh.service: ExecStart = %q", got)
	}
	if !refresh.has("Service", "Type", "oneshot") || !refresh.has("Unit", "Requisite", "devfence.service") {
		t.Error("devfence-refresh.service: want a oneshot that requires devfence.service to be active")
	}
	timer := parseUnit(t, filepath.Join(systemdDir, "devfence-refresh.timer"))
	if !timer.has("Timer", "Unit", "devfence-refresh.service") || len(timer["Timer"]["OnUnitActiveSec"]) == 0 ||
		!timer.has("Install", "WantedBy", "timers.target") {
		t.Errorf("devfence-refresh.timer: %v", timer)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed; the key checks above are all")
	}
	// systemd-analyze verify wants ExecStart's program to exist: point the
	// copies at a stand-in, so that the test needs no installed devfence.
	dir := t.TempDir()
	stand := filepath.Join(dir, "devfence")
	if err := os.WriteFile(stand, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, name := range []string{"devfence.service", "devfence-refresh.service", "devfence-refresh.timer"} {
		data, err := os.ReadFile(filepath.Join(systemdDir, name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(data), "/usr/local/bin/devfence", stand)), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	out, err := exec.Command(analyze, append([]string{"verify", "--man=no"}, files...)...).CombinedOutput()
	// verify exits 0 on warnings such as an unknown key; any output is a
	// finding.
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestOpenWrtInit checks the procd init script: shell syntax, started
// before the network (START=20), procd style with boot and start_service.
func TestOpenWrtInit(t *testing.T) {
	path := "../../examples/openwrt/devfence"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if !strings.HasPrefix(s, "#!/bin/sh /etc/rc.common\n") {
		t.Error("not an rc.common script")
	}
	for _, want := range []string{"\nSTART=19\n", "\nUSE_PROCD=1\n", "\nboot() {", "\nstart_service() {",
		"apply", "--state-dir", "rollback --if-pending"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q", want)
		}
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode()&0o111 == 0 {
		t.Error("the init script is not executable")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	if out, err := exec.Command(sh, "-n", path).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v\n%s", err, out)
	}
}
