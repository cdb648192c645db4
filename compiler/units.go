package compiler

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// PortRange is a port or an inclusive range "lo-hi"; a single port has Lo == Hi.
type PortRange struct{ Lo, Hi uint16 }

func (p PortRange) String() string {
	if p.Lo == p.Hi {
		return strconv.Itoa(int(p.Lo))
	}
	return fmt.Sprintf("%d-%d", p.Lo, p.Hi)
}

// IsZero reports whether no port was given.
func (p PortRange) IsZero() bool { return p.Lo == 0 && p.Hi == 0 }

// ParsePortRange reads "443" or "5000-5100".
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if isRange && (strings.TrimSpace(lo) == "" || strings.TrimSpace(hi) == "") {
		// "-1" is a negative number to the user, not a range missing its start.
		return PortRange{}, fmt.Errorf("port %q is neither a port 1-65535 nor a range \"lo-hi\"", s)
	}
	l, err := parsePort(lo)
	if err != nil {
		return PortRange{}, err
	}
	if !isRange {
		return PortRange{l, l}, nil
	}
	h, err := parsePort(hi)
	if err != nil {
		return PortRange{}, err
	}
	if h < l {
		return PortRange{}, fmt.Errorf("port range %q is reversed", s)
	}
	return PortRange{l, h}, nil
}

func parsePort(s string) (uint16, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("port %s is outside 1-65535", s)
	}
	if err != nil {
		return 0, fmt.Errorf("port %q is not a number", s)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d is outside 1-65535", n)
	}
	return uint16(n), nil
}

var sizeUnits = []struct {
	suffix string
	mult   uint64
}{
	// Longest suffixes first so that "KiB" is not read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1},
}

// ParseSize reads an IEC size such as "512B", "64KiB" or "1MiB".
func ParseSize(s string) (uint64, error) {
	// The unit is the trailing letters, so that "16EiB" is reported as an
	// unknown unit, not as a bad number before "B".
	i := len(s)
	for i > 0 && (s[i-1] >= 'a' && s[i-1] <= 'z' || s[i-1] >= 'A' && s[i-1] <= 'Z') {
		i--
	}
	num, unit := s[:i], s[i:]
	if unit == "" {
		return 0, fmt.Errorf("size %q needs an IEC unit: B, KiB, MiB, GiB or TiB", s)
	}
	var mult uint64
	for _, u := range sizeUnits {
		if u.suffix == unit {
			mult = u.mult
		}
	}
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unit %s is not one of B, KiB, MiB, GiB or TiB", s, unit)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("size %q is too large", s)
	case err != nil:
		return 0, fmt.Errorf("size %q needs a whole number before %s", s, unit)
	case n == 0:
		return 0, fmt.Errorf("size %q is zero", s)
	case n > (1<<63)/mult:
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// FormatSize prints bytes in the largest IEC unit that divides them exactly.
func FormatSize(n uint64) string {
	for i := len(sizeUnits) - 2; i >= 0; i-- {
		if u := sizeUnits[i]; n%u.mult == 0 {
			return fmt.Sprintf("%d%s", n/u.mult, u.suffix)
		}
	}
	return fmt.Sprintf("%dB", n)
}

// Duration is a Go duration ("30s", "10m", "1h") of at least one second.
type Duration time.Duration

// ParseDuration reads a Go duration of whole seconds, since nftables
// timeouts are kept in milliseconds but listed in seconds.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil && isDurationSyntax(s) {
		// The syntax is right, so the value overflowed.
		return 0, fmt.Errorf("duration %q is too long; the longest is %s", s, formatDuration(maxDuration))
	}
	if err != nil {
		return 0, fmt.Errorf("duration %q is not Go syntax such as 30s, 10m or 1h", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", s)
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf("duration %q must be whole seconds", s)
	}
	return d, nil
}

// isDurationSyntax matches the syntax time.ParseDuration reads,
// `^[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$`, so that its one error
// can be told apart: bad syntax or a value past maxDuration.
func isDurationSyntax(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for s != "" {
		s = strings.TrimLeft(s, "0123456789")
		if strings.HasPrefix(s, ".") {
			s = strings.TrimLeft(s[1:], "0123456789")
		}
		unit := false
		// A longer unit first: "ms" read as "m" then "s" ends at the same place.
		for _, u := range durationUnits {
			if strings.HasPrefix(s, u) {
				s, unit = s[len(u):], true
				break
			}
		}
		if !unit {
			return false
		}
	}
	return true
}

var durationUnits = [...]string{"ns", "us", "µs", "μs", "ms", "s", "m", "h"}

// maxDuration is the longest whole-hours duration time.Duration holds.
const maxDuration = time.Duration(math.MaxInt64) / time.Hour * time.Hour

// Quota is a byte budget per window: "1MiB/1h".
type Quota struct {
	Bytes  uint64
	Window time.Duration
}

func (q Quota) String() string {
	return FormatSize(q.Bytes) + "/" + formatDuration(q.Window)
}

// ParseQuota reads "BYTES/WINDOW".
func ParseQuota(s string) (Quota, error) {
	size, window, ok := strings.Cut(s, "/")
	if !ok {
		return Quota{}, fmt.Errorf("quota %q must be SIZE/WINDOW, e.g. 1MiB/1h", s)
	}
	b, err := ParseSize(size)
	if err != nil {
		return Quota{}, err
	}
	w, err := ParseDuration(window)
	if err != nil {
		return Quota{}, err
	}
	return Quota{Bytes: b, Window: w}, nil
}

// formatDuration prints whole hours, minutes or seconds the way a person
// writes them ("1h", "10m", "90s"), not time.Duration's "1h0m0s".
func formatDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}

// Rate is a log rate such as "10/minute"; N == 0 turns logging off.
type Rate struct {
	N    int
	Unit string
}

var rateUnits = map[string]bool{"second": true, "minute": true, "hour": true, "day": true}

// ParseRate reads "N/UNIT" or "0".
func ParseRate(s string) (Rate, error) {
	if s == "0" {
		return Rate{}, nil
	}
	num, unit, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q must be N/UNIT (second, minute, hour, day) or 0", s)
	}
	// Parsed as int32 whatever the CPU: Atoi took 3000000000/second on
	// 64-bit CPUs and refused it on 32-bit ones.
	n, err := strconv.ParseInt(num, 10, 32)
	if errors.Is(err, strconv.ErrRange) && n > 0 {
		return Rate{}, fmt.Errorf("rate %q is too large", s)
	}
	if err != nil || n < 0 {
		return Rate{}, fmt.Errorf("rate %q needs a whole number before /", s)
	}
	if !rateUnits[unit] {
		return Rate{}, fmt.Errorf("rate %q: unit must be second, minute, hour or day", s)
	}
	return Rate{N: int(n), Unit: unit}, nil
}

var errEmpty = errors.New("must not be empty")
