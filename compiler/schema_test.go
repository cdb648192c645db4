package compiler

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"os"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/devfence/devfence/internal/golden"
)

// compileSchema compiles Schema() with a JSON Schema validator; compiling
// also checks it against the draft 2020-12 meta-schema.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	out, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("devfence-profile.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("devfence-profile.schema.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return sch
}

// validate checks a YAML document against the schema, as an editor would
// after reading the YAML into JSON values.
func validate(t *testing.T, sch *jsonschema.Schema, data []byte) error {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("yaml to json: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

// TestSchemaGolden keeps golden/schema.json, which is what `devfence
// schema` prints, and checks the output is deterministic.
func TestSchemaGolden(t *testing.T) {
	out, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, "../golden/schema.json", out)
	for range 3 {
		if again, _ := Schema(); !bytes.Equal(out, again) {
			t.Fatal("two calls of Schema differ")
		}
	}
	compileSchema(t)
}

// TestSchemaCoversFields walks the Go types of the profile and requires
// each yaml-tagged field at its place in the schema, closed to unknown
// fields, with a description; and no property that is not a field.
func TestSchemaCoversFields(t *testing.T) {
	out, _ := Schema()
	coversFields(t, out, reflect.TypeFor[Profile](), profileTables, 40)
}

// coversFields checks a schema generated from typ with tables.
func coversFields(t *testing.T, out []byte, root0 reflect.Type, tables schemaTables, minFields int) {
	t.Helper()
	var root map[string]any
	if err := json.Unmarshal(out, &root); err != nil {
		t.Fatal(err)
	}
	fields := 0
	var walk func(typ reflect.Type, node map[string]any, path string)
	walk = func(typ reflect.Type, node map[string]any, path string) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if _, custom := schemaTypes[typ]; custom {
			if _, ok := node["$ref"]; !ok {
				t.Errorf("%s: %s has a hand-written definition but no $ref to it", path, typ)
			}
			return
		}
		switch typ.Kind() {
		case reflect.Slice:
			items, ok := node["items"].(map[string]any)
			if !ok {
				t.Errorf("%s: a list without items", path)
				return
			}
			walk(typ.Elem(), items, path+"[]")
		case reflect.Struct:
			if node["additionalProperties"] != false {
				t.Errorf("%s: unknown fields are not refused (additionalProperties is %v)", path, node["additionalProperties"])
			}
			props, _ := node["properties"].(map[string]any)
			seen := map[string]bool{}
			for i := range typ.NumField() {
				tag := typ.Field(i).Tag.Get("yaml")
				if tag == "" || tag == "-" {
					continue
				}
				fields++
				seen[tag] = true
				fpath := join(path, tag)
				prop, ok := props[tag].(map[string]any)
				if !ok {
					t.Errorf("%s: field %s.%s is missing from the schema", fpath, typ.Name(), typ.Field(i).Name)
					continue
				}
				if d, _ := prop["description"].(string); d == "" {
					t.Errorf("%s: no description (add one to the schema's descriptions)", fpath)
				}
				walk(typ.Field(i).Type, prop, fpath)
			}
			for name := range props {
				if !seen[name] {
					t.Errorf("%s: property %q is no field of %s", path, name, typ.Name())
				}
			}
		}
	}
	walk(root0, root, "")
	if fields < minFields {
		t.Errorf("only %d fields walked; the walk lost its way", fields)
	}
	// Every table entry must name a real place, or it silently does nothing.
	paths := map[string]bool{"": true}
	var collect func(typ reflect.Type, path string)
	collect = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if _, custom := schemaTypes[typ]; custom {
			return
		}
		switch typ.Kind() {
		case reflect.Slice:
			paths[path+"[]"] = true
			collect(typ.Elem(), path+"[]")
		case reflect.Struct:
			for i := range typ.NumField() {
				if tag := typ.Field(i).Tag.Get("yaml"); tag != "" && tag != "-" {
					paths[join(path, tag)] = true
					collect(typ.Field(i).Type, join(path, tag))
				}
			}
		}
	}
	collect(root0, "")
	for _, table := range []map[string]bool{keys(tables.descriptions), keys(tables.fields), keys(tables.required)} {
		for p := range table {
			if !paths[p] {
				t.Errorf("schema table entry %q names no field", p)
			}
		}
	}
}

func keys[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// compiles reports whether devfence takes the profile, policies aside: it
// loads and compiles. The schema accepts exactly those of the examples.
func compiles(file string, data []byte) error {
	p, err := Parse(file, data)
	if err != nil {
		return err
	}
	_, err = Compile(p, Options{})
	return err
}

// TestSchemaExamples validates the examples against the schema: the valid
// ones and those that only a policy denies must pass, except where devfence
// refuses to compile them (inbound.policy other than established-only),
// which the schema must refuse too.
func TestSchemaExamples(t *testing.T) {
	sch := compileSchema(t)
	var paths []string
	for _, glob := range []string{"../examples/*.yaml", "../examples/denied/*.yaml"} {
		m, _ := filepath.Glob(glob)
		paths = append(paths, m...)
	}
	if len(paths) < 5 {
		t.Fatalf("only %d example profiles", len(paths))
	}
	for _, path := range paths {
		t.Run(strings.TrimPrefix(path, "../examples/"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cerr := compiles(path, data)
			serr := validate(t, sch, data)
			switch {
			case cerr == nil && serr != nil:
				t.Errorf("schema refuses a profile devfence compiles:\n%v", serr)
			case cerr != nil && serr == nil:
				t.Errorf("schema accepts a profile devfence refuses: %v", cerr)
			}
		})
	}
}

// TestSchemaInvalid checks that the deliberately bad profiles whose faults
// are structural fail schema validation, at the right places.
func TestSchemaInvalid(t *testing.T) {
	sch := compileSchema(t)
	for _, tc := range []struct {
		file  string
		where []string // instance locations the error must name
	}{
		{"unknown-field", []string{"/device", "colour", "/egress", "quotas", "/egress/allow/0", "qouta"}},
		{"wrong-type", []string{"/version", "/device/name", "/networks/lan", "/inbound/services/0/consent", "/consent/peers", "/consent/idle", "/essentials/dhcp"}},
		{"bad-port", []string{"/inbound/services/0/port", "/inbound/services/1/port", "/inbound/services/3/port"}},
		{"bad-device-name", []string{"/device/name", "LAN"}},
		{"bad-units", []string{"/egress/quota", "/egress/total", "/egress/allow/0/quota", "/log/drops"}},
		{"bad-cidr", []string{"/networks/lan/1", "/networks/lan/2", "/networks/lan/3", "/networks/lan/4", "/egress/allow/0/to/1"}},
		{"missing-required", []string{"version", "/device", "/networks/lan", "/inbound/services/0", "/egress/allow/0", "/consent/handshakes/0/to", "/essentials/icmp", "/limits/ipv6Prefix"}},
		{"bad-proto", []string{"/inbound/services/0", "/inbound/services/1", "/egress/allow/0", "/egress/allow/1", "/egress/allow/2/types/1", "/egress/allow/3/proto", "/egress/allow/4/proto", "/egress/allow/5/proto", "/egress/allow/6/types"}},
		{"injection", []string{"/device/name", "propertyName 'lan } ; delete table", "/inbound/services/0/name"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("../examples/invalid", tc.file+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			err = validate(t, sch, data)
			if err == nil {
				t.Fatal("schema accepts it")
			}
			msg := err.Error()
			for _, w := range tc.where {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not name %q:\n%s", w, msg)
				}
			}
		})
	}
}

// TestSchemaAgreesWithLoader feeds small profiles to devfence (load and
// compile) and to the schema: the schema must accept every one devfence
// takes (an editor must not flag a good profile), and refuse the faults
// that do not need the whole profile to see.
func TestSchemaAgreesWithLoader(t *testing.T) {
	sch := compileSchema(t)
	const head = "version: 1\ndevice:\n  name: cam\n"
	for _, tc := range []struct {
		name, body string
		ok         bool // what both say; semantic faults are not listed
	}{
		{"minimal", "", true},
		{"all defaults", "essentials: {loopback: true, dhcp: false, ipv6-nd: true, icmp: echo}\nlimits: {peers: 1, ipv6Prefix: 128}\nlog: {drops: 0, group: 65535}\n", true},
		{"log off as string", "log: {drops: \"0\"}\n", true},
		{"port range spaced", "networks: {lan: [10.0.0.0/8]}\ninbound: {services: [{name: a, proto: udp, port: 5000 - 5100, from: [lan]}]}\n", true},
		{"port as string", "networks: {lan: [10.0.0.0/8]}\ninbound: {services: [{name: a, proto: tcp, port: \"443\", from: [lan, 192.0.2.1, \"2001:db8::/32\"]}]}\n", true},
		{"fractional hours", "consent: {idle: 1.5h}\negress: {quota: 1KiB/1h30m}\n", true},
		{"host names", "networks: {cloud: [api.example.com, \"Example.ORG.\", \"::ffff:192.0.2.1\", \"::\", 0.0.0.0/0]}\n", true},
		{"any", "egress: {quota: 1MiB/1h, allow: [{name: ntp, to: any, proto: udp, port: 123}]}\n", true},
		{"bulk without port", "consent: {bulk: [{proto: tcp}]}\n", true},
		{"clear to send", "networks: {c: [192.0.2.1]}\nconsent: {handshakes: [{name: up, to: [c], port: 4433, clearToSend: \"220 ok\"}]}\n", true},
		{"waiver", "waivers: [{policy: egress-any-needs-quota, reason: pool}]\n", true},
		{"icmp types", "networks: {gw: [192.0.2.1, \"2001:db8::1\"]}\negress: {allow: [{name: ping, to: [gw], proto: icmp, types: [echo-request, nd-neighbor-solicit, timestamp-request]}]}\n", true},
		{"igmp, any and numbers", "networks: {lan: [10.0.0.0/8]}\ninbound: {services: [{name: q, proto: igmp, from: [lan]}, {name: r, proto: 253, from: [lan]}, {name: s, proto: \"0\", from: [lan]}]}\negress: {allow: [{name: a, to: [lan], proto: any}, {name: b, to: [lan], proto: 255}]}\n", true},

		{"port on icmp", "networks: {lan: [10.0.0.0/8]}\negress: {allow: [{name: a, to: [lan], proto: icmp, port: 7}]}\n", false},
		{"port on a number", "networks: {lan: [10.0.0.0/8]}\negress: {allow: [{name: a, to: [lan], proto: 253, port: 7}]}\n", false},
		{"types on tcp", "networks: {lan: [10.0.0.0/8]}\negress: {allow: [{name: a, to: [lan], proto: tcp, port: 7, types: [echo-request]}]}\n", false},
		{"unknown type", "networks: {lan: [10.0.0.0/8]}\negress: {allow: [{name: a, to: [lan], proto: icmp, types: [ping]}]}\n", false},
		{"no types", "networks: {lan: [10.0.0.0/8]}\negress: {allow: [{name: a, to: [lan], proto: icmp, types: []}]}\n", false},
		{"tcp by number", "networks: {lan: [10.0.0.0/8]}\negress: {allow: [{name: a, to: [lan], proto: 6}]}\n", false},
		{"icmpv6 by number", "networks: {lan: [10.0.0.0/8]}\negress: {allow: [{name: a, to: [lan], proto: \"58\"}]}\n", false},
		{"protocol 256", "networks: {lan: [10.0.0.0/8]}\negress: {allow: [{name: a, to: [lan], proto: 256}]}\n", false},
		{"udp without port", "networks: {lan: [10.0.0.0/8]}\negress: {allow: [{name: a, to: [lan], proto: udp}]}\n", false},
		{"consent on icmp", "networks: {lan: [10.0.0.0/8]}\ninbound: {services: [{name: a, proto: icmp, from: [lan], consent: true}]}\n", false},

		{"unknown top field", "colour: red\n", false},
		{"version 2", "", false},
		{"bad proto", "networks: {lan: [10.0.0.0/8]}\ninbound: {services: [{name: a, proto: icmp, port: 1, from: [lan]}]}\n", false},
		{"policy", "inbound: {policy: open}\n", false},
		{"any in from", "inbound: {services: [{name: a, proto: tcp, port: 1, from: any}]}\n", false},
		{"any in a list", "egress: {allow: [{name: a, to: [any], proto: tcp, port: 1}]}\n", false},
		{"empty to", "egress: {allow: [{name: a, to: [], proto: tcp, port: 1}]}\n", false},
		{"port 65536", "consent: {bulk: [{proto: tcp, port: 65536}]}\n", false},
		{"range to 65536", "consent: {bulk: [{proto: tcp, port: 1-65536}]}\n", false},
		{"size unit", "egress: {quota: 1MB/1h}\n", false},
		{"rate number", "log: {drops: 10}\n", false},
		{"negative", "limits: {peers: -1}\n", false},
		{"group", "log: {group: 65536}\n", false},
		{"zone", "networks: {l: [\"fe80::1%eth0\"]}\n", false},
		{"leading zero ipv4", "networks: {l: [010.0.0.1]}\n", false},
		{"long clear to send", "networks: {c: [192.0.2.1]}\nconsent: {handshakes: [{name: up, to: [c], port: 1, clearToSend: \"" + strings.Repeat("x", MaxClearToSend+1) + "\"}]}\n", false},
		{"blank reason", "waivers: [{policy: p, reason: \"  \"}]\n", false},
		{"network name", "networks: {Lan: [10.0.0.0/8]}\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := head + tc.body
			if tc.name == "version 2" {
				doc = strings.Replace(doc, "version: 1", "version: 2", 1)
			}
			lerr := compiles("t.yaml", []byte(doc))
			serr := validate(t, sch, []byte(doc))
			if (lerr == nil) != tc.ok {
				t.Errorf("devfence: ok=%v, want %v (%v)", lerr == nil, tc.ok, lerr)
			}
			if (serr == nil) != tc.ok {
				t.Errorf("schema: ok=%v, want %v (%v)", serr == nil, tc.ok, serr)
			}
		})
	}
}

// TestTestSchema keeps golden/test-schema.json, which is what `devfence
// schema --test` prints, checks it covers the test file's fields, and
// that the examples' test files pass it.
func TestTestSchema(t *testing.T) {
	out, err := TestSchema()
	if err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, "../golden/test-schema.json", out)
	coversFields(t, out, reflect.TypeFor[TestFile](), testTables, 15)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("devfence-test.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("devfence-test.schema.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	files, _ := filepath.Glob("../examples/tests/*.test.yaml")
	if len(files) == 0 {
		t.Fatal("no examples/tests/*.test.yaml")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, sch, data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	bad := []byte("cases:\n  - name: x\n    packet: in tcp 1.2.3.4 > 22\n    expect: {verdict: maybe}\n")
	if err := validate(t, sch, bad); err == nil {
		t.Error("a verdict of maybe passes the schema")
	}
}
