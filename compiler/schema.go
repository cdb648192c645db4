package compiler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/devfence/devfence/rules"
)

// The JSON Schema (draft 2020-12) of a profile, for editors: with
// `# yaml-language-server: $schema=...` at the top of a profile, an editor
// completes field names, shows what each means and flags mistakes as they
// are typed. It is generated from Profile's yaml tags, so that a field added
// to the Go types cannot be missing from the schema (a test also requires a
// description for each); what reflection cannot know (value formats, enums,
// bounds, required fields, texts) is in the tables below, keyed by path.
//
// The schema is a first check, not the loader: what needs the whole profile
// (references to networks, unique rule names, the policies) is only checked
// by devfence. It never refuses a profile that devfence compiles.

// SchemaDialect is the JSON Schema version of Schema's output.
const SchemaDialect = "https://json-schema.org/draft/2020-12/schema"

// Schema returns the profile's JSON Schema, indented, keys sorted, so that
// the same types always give the same bytes.
func Schema() ([]byte, error) {
	g := &schemaGen{defaults: reflect.ValueOf(Defaults()), tables: profileTables}
	root := g.object(reflect.TypeFor[Profile](), "", g.defaults)
	root["$schema"] = SchemaDialect
	root["title"] = "devfence device profile, version 1"
	root["$defs"] = schemaDefs()
	return encodeSchema(root)
}

// encodeSchema writes a schema indented, keys sorted, without HTML escapes.
func encodeSchema(root schema) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	return b.Bytes(), nil
}

type schema = map[string]any

// Paths name a field by its yaml tags from the top, "[]" standing for the
// items of a list: "inbound.services[].port".

// schemaDescriptions are PROFILE.md's comments on each field.
var schemaDescriptions = map[string]string{
	"version":            "Profile format version; this devfence reads 1.",
	"device":             "The kind of device this profile describes.",
	"device.name":        "Device name, [a-z0-9][a-z0-9-]{0,62}; used in comments and log prefixes.",
	"device.description": "Free text about the device.",
	"networks":           "Named address groups: IPv4 and IPv6 CIDRs, single addresses, or host names (resolved when the table is applied).",
	"inbound":            "What may reach the device unsolicited.",
	"inbound.policy":     "The only policy: unsolicited inbound is dropped.",
	"inbound.services":   "The exceptions: listeners that a peer may connect to.",

	"inbound.services[]":         "A listener on the device.",
	"inbound.services[].name":    "Rule name, unique among the services; [a-z0-9][a-z0-9-]{0,62}.",
	"inbound.services[].proto":   "tcp | udp | icmp | igmp | any, or an IP protocol number 0-255.",
	"inbound.services[].port":    "A port or a range \"5000-5100\"; tcp and udp only, and required for them.",
	"inbound.services[].types":   "icmp only: ICMP type names (ICMPv4 ones for IPv4 peers, ICMPv6 ones for IPv6 peers); omitted: every type.",
	"inbound.services[].from":    "Network names or CIDRs; required.",
	"inbound.services[].consent": "A peer that COMPLETES this TCP handshake becomes a consenting peer.",

	"egress":       "What the device may send.",
	"egress.quota": "Byte budget per destination peer (not consenting), per window; omitted: unmetered (the built-in policies deny that unless waived).",
	"egress.total": "Budget of all non-consenting peers together, per window (per IP family); omitted: no total.",
	"egress.allow": "Everything not listed here is dropped.",

	"egress.allow[]":       "A destination the device may send to.",
	"egress.allow[].name":  "Rule name, unique among the allow rules; [a-z0-9][a-z0-9-]{0,62}.",
	"egress.allow[].to":    "Network names, CIDRs, or the word any.",
	"egress.allow[].proto": "tcp | udp | icmp (ICMP to IPv4 peers, ICMPv6 to IPv6 peers) | igmp | any, or an IP protocol number 0-255.",
	"egress.allow[].port":  "A port or a range \"5000-5100\"; tcp and udp only, and required for them.",
	"egress.allow[].types": "icmp only: ICMP type names (ICMPv4 ones for IPv4 peers, ICMPv6 ones for IPv6 peers); omitted: every type.",
	"egress.allow[].quota": "Overrides egress.quota for this rule.",

	"consent":            "Consenting peers: the only destinations that may get bulk data.",
	"consent.idle":       "A peer stays consenting while its consent session is live, plus this.",
	"consent.peers":      "Most consenting peers tracked at once (bounds kernel memory).",
	"consent.bulk":       "What may flow to a consenting peer without quota; omit for anything.",
	"consent.handshakes": "The device asks a cloud for consent (outbound, clear-to-send).",

	"consent.bulk[]":       "Traffic allowed to consenting peers.",
	"consent.bulk[].proto": "tcp | udp",
	"consent.bulk[].port":  "A port or a range \"5000-5100\"; omitted: every port of proto.",

	"consent.handshakes[]":             "A cloud endpoint that grants consent.",
	"consent.handshakes[].name":        "Rule name, unique among the handshakes; [a-z0-9][a-z0-9-]{0,62}.",
	"consent.handshakes[].to":          "Network names or CIDRs of the endpoint.",
	"consent.handshakes[].port":        "TCP port reserved for consent.",
	"consent.handshakes[].clearToSend": "Optional: the peer's first reply bytes must start with this (the clear-to-send-length policy keeps it to 16 bytes, one kernel comparison).",

	"essentials":          "What keeps a device on the network; the defaults are shown.",
	"essentials.loopback": "Traffic on the loopback interface.",
	"essentials.dhcp":     "DHCPv4 client and DHCPv6 client.",
	"essentials.ipv6-nd":  "Neighbour and router discovery (ICMPv6).",
	"essentials.icmp":     "errors | echo | none  (echo: answer pings, rate-limited).",

	"limits":            "Bounds on the kernel's tracking tables.",
	"limits.peers":      "Most peers tracked per quota at once; a full table refuses new peers.",
	"limits.ipv6Prefix": "An IPv6 peer is a prefix of this length: a /64 is one peer, not 2^64.",

	"log":       "Logging of dropped packets.",
	"log.drops": "Rate-limited log of dropped packets; 0 turns it off.",
	"log.group": "NFLOG group the drops go to.",

	"waivers":          "A policy that this profile knowingly breaks, and why.",
	"waivers[]":        "One waived policy.",
	"waivers[].policy": "The id of the policy being waived.",
	"waivers[].reason": "Why the policy is waived; required.",
}

// schemaRequired lists the fields without which the loader refuses an object.
var schemaRequired = map[string][]string{
	"":                     {"version", "device"},
	"device":               {"name"},
	"inbound.services[]":   {"name", "proto", "from"},
	"egress.allow[]":       {"name", "to", "proto"},
	"consent.bulk[]":       {"proto"},
	"consent.handshakes[]": {"name", "to", "port"},
	"waivers[]":            {"policy", "reason"},
}

var (
	nameRef  = schema{"$ref": "#/$defs/name"}
	protoSch = schema{"enum": []string{"tcp", "udp"}}
	// A rule's proto: a word, or a protocol number (as a YAML number or
	// text) that has no word; the loader wants one spelling per protocol.
	ruleProtoSch = schema{
		"type": []string{"string", "integer"},
		"anyOf": []any{
			schema{"enum": []string{protoTCP, protoUDP, protoICMP, protoIGMP, protoAny}},
			schema{"type": "integer", "minimum": 0, "maximum": 255},
			schema{"type": "string", "pattern": `^(0|[1-9][0-9]?|1[0-9]{2}|2[0-4][0-9]|25[0-5])$`},
		},
		"not": schema{"enum": []any{1, 2, 6, 17, 58, "1", "2", "6", "17", "58"}},
	}
	typesSch = schema{"minItems": 1, "items": schema{"enum": icmpTypeNames()}}
	// A list of targets where the word any is not allowed.
	listRef = schema{"$ref": "#/$defs/targetList"}
)

// schemaFields refine what reflection gives a field: formats, enums and
// bounds, the same ones the loader checks.
var schemaFields = map[string]schema{
	"version":        {"const": 1},
	"device.name":    nameRef,
	"inbound.policy": {"enum": []string{"established-only"}},

	"inbound.services[].name":          nameRef,
	"inbound.services[].proto":         ruleProtoSch,
	"inbound.services[].types":         typesSch,
	"inbound.services[].from":          listRef,
	"egress.allow[].name":              nameRef,
	"egress.allow[].proto":             ruleProtoSch,
	"egress.allow[].types":             typesSch,
	"consent.bulk[].proto":             protoSch,
	"consent.handshakes[].name":        nameRef,
	"consent.handshakes[].to":          listRef,
	"consent.handshakes[].clearToSend": {"maxLength": MaxClearToSend},

	"consent.peers":     {"minimum": 1},
	"essentials.icmp":   {"enum": []string{"errors", "echo", "none"}},
	"limits.peers":      {"minimum": 1},
	"limits.ipv6Prefix": {"minimum": 1, "maximum": 128},
	"log.group":         {"maximum": 65535},
	"waivers[].policy":  {"minLength": 1},
	"waivers[].reason":  {"pattern": `\S`},
}

// protoConditions tie a rule's port, types and consent to its proto, as
// the loader does. Consent on udp is left to the consent-needs-tcp policy.
var protoConditions = []any{
	schema{"if": schema{"required": []string{"proto"}, "properties": schema{"proto": protoSch}},
		"then": schema{"required": []string{"port"}}},
	schema{"if": schema{"required": []string{"port"}}, "then": schema{"properties": schema{"proto": protoSch}}},
	schema{"if": schema{"required": []string{"types"}}, "then": schema{"properties": schema{"proto": schema{"const": protoICMP}}}},
	schema{"if": schema{"required": []string{"consent"}, "properties": schema{"consent": schema{"const": true}}},
		"then": schema{"properties": schema{"proto": protoSch}}},
}

// schemaConditions are the constraints between the fields of an object.
var schemaConditions = map[string][]any{
	"inbound.services[]": protoConditions,
	"egress.allow[]":     protoConditions[:3],
}

// icmpTypeNames lists every ICMP and ICMPv6 type name, sorted, once.
func icmpTypeNames() []string {
	var names []string
	for t := range 256 {
		for _, v6 := range []bool{false, true} {
			if name, ok := rules.ICMPTypeName(uint8(t), v6); ok {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// schemaTypes are the value types whose YAML form is not their Go shape
// (see nodeDecoder); each has a hand-written definition in $defs.
var schemaTypes = map[reflect.Type]string{
	reflect.TypeFor[PortRange](): "port",
	reflect.TypeFor[Duration]():  "duration",
	reflect.TypeFor[Quota]():     "quota",
	reflect.TypeFor[Rate]():      "rate",
	reflect.TypeFor[Targets]():   "targets",
	reflect.TypeFor[Networks]():  "networks",
	reflect.TypeFor[Address]():   "address",
	reflect.TypeFor[ByteCheck](): "bytes",
}

// Patterns of the value formats, in the syntax common to ECMA-262 (which
// editors use) and Go's regexp.
var (
	portPat = `(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})`
	// A Go duration without sign; the loader also wants it positive and in
	// whole seconds.
	durationPat = `(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+`
	sizePat     = `[0-9]+(B|KiB|MiB|GiB|TiB)`
	octet       = `(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])`
	ipv4Pat     = `(` + octet + `\.){3}` + octet
	ipv6Pat     = ipv6Pattern()
	hostPat     = `([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.?`
)

// ipv6Pattern is RFC 3986's IPv6address, without zone (the loader refuses
// zones).
func ipv6Pattern() string {
	h16 := `[0-9a-fA-F]{1,4}`
	ls32 := `(` + h16 + `:` + h16 + `|` + ipv4Pat + `)`
	rep := func(n int) string { return fmt.Sprintf(`(%s:){%d}`, h16, n) }
	upTo := func(n int) string { return fmt.Sprintf(`((%s:){0,%d}%s)?`, h16, n, h16) }
	alts := []string{
		rep(6) + ls32,
		`::` + rep(5) + ls32,
		`(` + h16 + `)?::` + rep(4) + ls32,
		upTo(1) + `::` + rep(3) + ls32,
		upTo(2) + `::` + rep(2) + ls32,
		upTo(3) + `::` + h16 + `:` + ls32,
		upTo(4) + `::` + ls32,
		upTo(5) + `::` + h16,
		upTo(6) + `::`,
	}
	return `(` + strings.Join(alts, `|`) + `)`
}

func anchored(p string) string { return "^" + p + "$" }

// schemaDefs are the shared definitions: names and the custom value types.
func schemaDefs() schema {
	cidr4 := anchored(ipv4Pat + `(/([0-9]|[12][0-9]|3[0-2]))?`)
	cidr6 := anchored(ipv6Pat + `(/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8]))?`)
	addrOrCIDR := []any{
		schema{"pattern": cidr4, "description": "IPv4 address or CIDR"},
		schema{"pattern": cidr6, "description": "IPv6 address or CIDR"},
	}
	return schema{
		"name": schema{
			"type": "string", "pattern": namePattern,
			"description": "Lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters.",
		},
		"port": schema{
			"description": "A port 1-65535, or an inclusive range \"lo-hi\".",
			"anyOf": []any{
				schema{"type": "integer", "minimum": 1, "maximum": 65535},
				schema{"type": "string", "pattern": anchored(`\s*0*` + portPat + `\s*(-\s*0*` + portPat + `\s*)?`)},
			},
		},
		"duration": schema{
			"type": "string", "pattern": anchored(durationPat),
			"description": "A positive Go duration of whole seconds: 30s, 10m, 1h.",
		},
		"quota": schema{
			"type": "string", "pattern": anchored(sizePat + `/` + durationPat),
			"description": "SIZE/WINDOW: IEC bytes (512B, 64KiB, 1MiB, 1GiB) per Go duration (30s, 10m, 1h), e.g. 1MiB/1h.",
		},
		"rate": schema{
			"description": "N/UNIT, UNIT one of second, minute, hour, day (e.g. 10/minute); 0 turns it off.",
			"anyOf": []any{
				schema{"type": "integer", "const": 0},
				schema{"type": "string", "pattern": `^(0|[0-9]+/(second|minute|hour|day))$`},
			},
		},
		"address": schema{
			"type":        "string",
			"description": "An IPv4 or IPv6 address or CIDR (without host bits), or a DNS host name of two or more labels.",
			"anyOf": append(addrOrCIDR[:len(addrOrCIDR):len(addrOrCIDR)],
				schema{"pattern": anchored(hostPat), "maxLength": 253, "description": "host name, resolved when the table is applied"}),
		},
		"networks": schema{
			"type":                 "object",
			"propertyNames":        schema{"$ref": "#/$defs/name"},
			"additionalProperties": schema{"type": "array", "minItems": 1, "items": schema{"$ref": "#/$defs/address"}},
		},
		"targetList": schema{
			"type": "array", "minItems": 1,
			"description": "Network names (defined under networks) and CIDRs.",
			"items": schema{
				"type": "string",
				"not":  schema{"const": "any"},
				"anyOf": append([]any{schema{"pattern": namePattern, "description": "network name"}},
					addrOrCIDR...),
			},
		},
		"targets": schema{
			"description": "The word any, or a list of network names and CIDRs.",
			"anyOf":       []any{schema{"const": "any"}, schema{"$ref": "#/$defs/targetList"}},
		},
	}
}

type schemaGen struct {
	defaults reflect.Value
	tables   schemaTables
}

// schemaTables are what reflection cannot know of one kind of file, keyed
// by path.
type schemaTables struct {
	descriptions map[string]string
	required     map[string][]string
	fields       map[string]schema
}

var profileTables = schemaTables{schemaDescriptions, schemaRequired, schemaFields}

// object is the schema of a struct: its yaml-tagged fields, nothing else.
// def is the struct's value in Defaults(), or invalid inside lists.
func (g *schemaGen) object(t reflect.Type, path string, def reflect.Value) schema {
	props := schema{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "" || tag == "-" {
			continue
		}
		var fdef reflect.Value
		if def.IsValid() {
			fdef = def.Field(i)
		}
		props[tag] = g.field(f.Type, join(path, tag), fdef)
	}
	s := schema{"type": "object", "additionalProperties": false, "properties": props}
	if req := g.tables.required[path]; len(req) > 0 {
		s["required"] = req
	}
	if all, ok := schemaConditions[path]; ok {
		s["allOf"] = all
	}
	return s
}

// field is the schema of one value at path.
func (g *schemaGen) field(t reflect.Type, path string, def reflect.Value) schema {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
		def = reflect.Value{}
	}
	var s schema
	if name, ok := schemaTypes[t]; ok {
		s = schema{"$ref": "#/$defs/" + name}
	} else {
		switch t.Kind() {
		case reflect.Struct:
			s = g.object(t, path, def)
		case reflect.Slice:
			s = schema{"type": "array", "items": g.field(t.Elem(), path+"[]", reflect.Value{})}
		case reflect.String:
			s = schema{"type": "string"}
		case reflect.Int:
			// The decoder's range for every whole number.
			s = schema{"type": "integer", "minimum": 0, "maximum": int64(math.MaxInt32)}
		case reflect.Bool:
			s = schema{"type": "boolean"}
		default:
			panic(fmt.Sprintf("compiler: no schema for %s at %s", t, path))
		}
	}
	for k, v := range g.tables.fields[path] {
		s[k] = v
	}
	if d, ok := g.tables.descriptions[path]; ok {
		s["description"] = d
	}
	if d, ok := defaultOf(def); ok {
		s["default"] = d
	}
	return s
}

// defaultOf is the YAML form of a default from Defaults(); zero values are
// not defaults but absences.
func defaultOf(v reflect.Value) (any, bool) {
	if !v.IsValid() || v.IsZero() {
		return nil, false
	}
	switch d := v.Interface().(type) {
	case Duration:
		return formatDuration(time.Duration(d)), true
	case Rate:
		return fmt.Sprintf("%d/%s", d.N, d.Unit), true
	case bool, int, string:
		return d, true
	}
	return nil, false
}

// TestSchema returns the JSON Schema of test files (NAME.test.yaml, run
// by `devfence test`), generated as the profile's is.
func TestSchema() ([]byte, error) {
	g := &schemaGen{tables: testTables}
	root := g.object(reflect.TypeFor[TestFile](), "", reflect.Value{})
	root["$schema"] = SchemaDialect
	root["title"] = "devfence test file"
	root["$defs"] = schema{
		"duration": schemaDefs()["duration"],
		"bytes": schema{
			"description": "A byte count: a number, a size (64KiB), or either after <=, >=, <, > or ==.",
			"anyOf": []any{
				schema{"type": "integer", "minimum": 0},
				schema{"type": "string", "pattern": anchored(`\s*(<=|>=|==|<|>)?\s*([0-9]+|` + sizePat + `)\s*`)},
			},
		},
	}
	return encodeSchema(root)
}

var packetDescription = "A packet in the explain grammar (docs/EXPLAIN.md): in|out PROTO [SRC] > [DST] [OPTION]..."

var testTables = schemaTables{
	descriptions: map[string]string{
		"profile":   "The profile under test, relative to this file; default: NAME.yaml for NAME.test.yaml.",
		"addresses": "The device's own addresses; default 192.0.2.10 and 2001:db8:1::10.",
		"cases":     "The cases; each runs on a fresh device (no connections, empty sets, time 0).",

		"cases[]":        "One packet, or a sequence of steps.",
		"cases[].name":   "What the case shows; unique in the file.",
		"cases[].packet": packetDescription,
		"cases[].expect": "What the packet must come to.",
		"cases[].steps":  "Packets, connections and waits, in order.",

		"cases[].steps[]":         "One of packet, connect or wait.",
		"cases[].steps[].packet":  packetDescription,
		"cases[].steps[].connect": "A TCP handshake (SYN, SYN-ACK, ACK) between the packet's two sides, the first side opening it.",
		"cases[].steps[].wait":    "Move the simulated clock on.",
		"cases[].steps[].expect":  "What the step must come to.",

		"cases[].expect.verdict":           "accept (every packet accepted), drop (every packet dropped) or partial.",
		"cases[].expect.entry":             "The profile entry (rule comment) that decided the last packet.",
		"cases[].expect.delivered":         "Payload bytes accepted.",
		"cases[].expect.accepted":          "Packets accepted.",
		"cases[].steps[].expect.verdict":   "accept (every packet accepted), drop (every packet dropped) or partial.",
		"cases[].steps[].expect.entry":     "The profile entry (rule comment) that decided the last packet.",
		"cases[].steps[].expect.delivered": "Payload bytes accepted.",
		"cases[].steps[].expect.accepted":  "Packets accepted.",
	},
	required: map[string][]string{
		"":        {"cases"},
		"cases[]": {"name"},
	},
	fields: map[string]schema{
		"cases":                          {"minItems": 1},
		"addresses":                      {"items": schema{"type": "string", "anyOf": []any{schema{"pattern": anchored(ipv4Pat)}, schema{"pattern": anchored(ipv6Pat)}}}},
		"cases[].expect.verdict":         {"enum": testVerdicts},
		"cases[].steps[].expect.verdict": {"enum": testVerdicts},
	},
}
