# Shared machinery of devfence's policies. Organisation policies in package
# main may use all of it; see docs/POLICIES.md.
#
# Built-in policies add their results to `finding`, never to `deny` directly:
# the one deny rule below drops the findings that the profile waives, so no
# policy can forget to honour waivers, and the engine can tell which waivers
# actually silenced something.
package main

# policy_ids holds every id that `waivers` may name. Each policy file adds its
# own id; an organisation policy adds its id the same way.
policy_ids contains "waiver-valid"

# unwaivable holds the ids whose waiver would not trade risk for function but
# make the profile meaningless; waiver-valid denies waivers naming them.
unwaivable contains "waiver-valid"

# waived(id) holds when the profile knowingly breaks policy id.
waived(id) if {
	not unwaivable[id]
	some w in input.waivers
	w.policy == id
}

deny contains f if {
	some f in finding
	not finding_waived(f)
}

# waived_policies is every policy that had a finding the profile waived; the
# engine reports those waivers.
waived_policies contains f.policy if {
	some f in finding
	finding_waived(f)
}

# finding_waived takes the finding whole: a finding without a policy (an
# organisation's plain string, say) must still deny, where `waived(f.policy)`
# under `not` would drop it.
finding_waived(f) if waived(f.policy)

# make_finding builds conftest's structured result. conftest prints msg alone,
# so msg starts with the path; the engine strips that again because its
# diagnostics show the path in their own column.
make_finding(policy, path, text) := {
	"msg": sprintf("%s: %s", [path, text]),
	"policy": policy,
	"path": path,
}

# named("service", s) is `service "viewer"`, or just `service` when unnamed.
named(kind, obj) := sprintf("%s %q", [kind, obj.name]) if has_name(obj)

named(kind, obj) := kind if not has_name(obj)

has_name(obj) if is_string(obj.name)

# Sizes and quotas use the loader's syntax (compiler/units.go): IEC units and
# Go durations.
size_units := {"B": 1, "KiB": 1024, "MiB": 1048576, "GiB": 1073741824, "TiB": 1099511627776}

# size_bytes("64KiB") is 65536; undefined when s is not a size.
size_bytes(s) := to_number(digits) * mult if {
	some unit, mult in size_units
	digits := trim_suffix(s, unit)
	digits != s
	regex.match(`^[0-9]+$`, digits)
}

# quota("1MiB/1h") is {"bytes": 1048576, "seconds": 3600}; undefined when q is
# not SIZE/WINDOW with a positive window.
quota(q) := {"bytes": size_bytes(size), "seconds": ns / 1000000000} if {
	is_string(q)
	[size, window] := split(q, "/")
	ns := time.parse_duration_ns(window)
	ns > 0
}

# port_range(p) is [lo, hi] for a port written as 23, "23" or "20-30".
port_range(p) := [p, p] if is_number(p)

port_range(p) := [n, n] if {
	is_string(p)
	not contains(p, "-")
	n := to_number(trim_space(p))
}

port_range(p) := [to_number(trim_space(lo)), to_number(trim_space(hi))] if {
	is_string(p)
	[lo, hi] := split(p, "-")
}

# whole_internet(cidr) holds for a prefix of length zero: 0.0.0.0/0 or ::/0,
# however the address part is spelt. A suffix test, not a parse: it runs
# once per network entry, and networks can hold 100,000 of them.
whole_internet(cidr) if {
	is_string(cidr)
	endswith(trim_space(cidr), "/0")
}

# It also holds for ::ffff:0.0.0.0/96, the whole IPv4 internet written as
# IPv4-mapped IPv6, which the loader reads as 0.0.0.0/0. OPA's net builtins
# treat mapped addresses as IPv4 and cannot compare such prefixes, so the
# first 96 bits are read from the text: only zero groups, then ffff, then
# exactly 32 bits (two groups or a dotted quad); cidr_is_valid refuses the
# spellings the pattern lets through that are not addresses.
whole_internet(cidr) if {
	is_string(cidr)
	c := lower(trim_space(cidr))
	endswith(c, "/96")
	regex.match(`^((0{1,4}:){5}|((0{1,4}:){0,4}0{1,4})?::((0{1,4}:){0,4}))ffff:([0-9a-f]{1,4}:[0-9a-f]{1,4}|[0-9]{1,3}(\.[0-9]{1,3}){3})/96$`, c)
	net.cidr_is_valid(c)
}

# internet_suffixes are the prefix lengths whole_internet can hold.
internet_suffixes := ["/0", "/96"]

# internet_cidrs[name] lists the /0 prefixes network name holds. As a rule
# of its own it is evaluated once per check, not once per rule naming the
# network.
internet_cidrs[name] := cidrs if {
	some name, entries in input.networks
	is_array(entries)

	# One native call per network first: most networks hold no /0, and a
	# rule per entry is what makes a 100,000-entry network slow.
	strings.any_suffix_match(entries, internet_suffixes)
	cidrs := [c | some c in entries; whole_internet(c)]
	count(cidrs) > 0
}

# internet_via(entry) says how one `to`/`from` list entry covers the whole
# internet: by being a /0, or by naming a network that holds one.
internet_via(entry) := entry if whole_internet(entry)

internet_via(entry) := sprintf("network %q holds %s", [entry, concat(" and ", internet_cidrs[entry])]) if {
	is_string(entry)
	internet_cidrs[entry]
}

# reaches_internet(targets) says how a `to` value covers the whole internet.
reaches_internet(targets) := "any" if targets == "any"

reaches_internet(targets) := concat("; ", vias) if {
	is_array(targets)
	vias := [via | some entry in targets; via := internet_via(entry)]
	count(vias) > 0
}
