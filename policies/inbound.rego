# Inbound: a device answers what it asked for, and a few named services from
# named networks. These policies keep the exceptions narrow.
package main

# inbound-established-only: unsolicited inbound is dropped. The loader takes
# any word here; this policy is what refuses the others.
policy_ids contains "inbound-established-only"

finding contains make_finding("inbound-established-only", "inbound.policy", msg) if {
	p := input.inbound.policy
	p != "established-only"
	msg := sprintf("policy %q would let unsolicited connections in; the only inbound policy is established-only (services list the exceptions)", [p])
}

# inbound-from-internet: a service reachable from the whole internet is how
# exposed devices get enrolled into botnets; name the networks instead.
policy_ids contains "inbound-from-internet"

finding contains make_finding("inbound-from-internet", path, msg) if {
	some i, s in input.inbound.services
	not names_from(s)
	path := sprintf("inbound.services[%d]", [i])
	msg := sprintf("%s names no from networks, so the whole internet may connect; list the networks that may", [named("service", s)])
}

finding contains make_finding("inbound-from-internet", path, msg) if {
	some i, s in input.inbound.services
	s.from == "any"
	path := sprintf("inbound.services[%d].from", [i])
	msg := sprintf("%s accepts connections from any address, the whole internet; name the networks that may connect", [named("service", s)])
}

finding contains make_finding("inbound-from-internet", path, msg) if {
	some i, s in input.inbound.services
	is_array(s.from)
	some j, entry in s.from
	via := internet_via(entry)
	path := sprintf("inbound.services[%d].from[%d]", [i, j])
	msg := sprintf("%s accepts connections from the whole internet (%s); name the networks that may connect", [named("service", s), via])
}

names_from(s) if {
	s.from != null
	s.from != []
}

# inbound-no-telnet: Mirai logged in over telnet on 23 and 2323 with factory
# passwords; no device profile should open those ports, in any range, nor
# serve every protocol.
policy_ids contains "inbound-no-telnet"

telnet_ports := [23, 2323]

finding contains make_finding("inbound-no-telnet", path, msg) if {
	some i, s in input.inbound.services
	[lo, hi] := port_range(s.port)
	hit := [sprintf("%d", [p]) | some p in telnet_ports; lo <= p; p <= hi]
	count(hit) > 0
	path := sprintf("inbound.services[%d].port", [i])
	msg := sprintf("%s listens on %s (telnet, Mirai's way in); serve a console over SSH on another port, or not at all", [named("service", s), ports_text(hit)])
}

# A service of every protocol has every port, telnet's among them.
finding contains make_finding("inbound-no-telnet", path, msg) if {
	some i, s in input.inbound.services
	s.proto == "any"
	path := sprintf("inbound.services[%d].proto", [i])
	msg := sprintf("%s admits every protocol, telnet on ports 23 and 2323 included (Mirai's way in); name the protocols and ports it serves", [named("service", s)])
}

ports_text(ports) := sprintf("port %s", ports) if count(ports) == 1

ports_text(ports) := sprintf("ports %s", [concat(" and ", ports)]) if count(ports) > 1
