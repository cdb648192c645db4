package main_test

# inbound-established-only

test_inbound_policy_absent_passes if {
	count(hits(patch([{"op": "remove", "path": "/inbound/policy"}]))) == 0
}

test_inbound_policy_other_than_established_only_denied if {
	p := with_value("/inbound/policy", "allow-all")
	hits(p) == {["inbound-established-only", "inbound.policy"]}
	messages(p) == {`inbound.policy: policy "allow-all" would let unsolicited connections in; the only inbound policy is established-only (services list the exceptions)`}
}

# inbound-from-internet

test_service_without_from_denied if {
	hits(patch([{"op": "remove", "path": "/inbound/services/0/from"}])) == {["inbound-from-internet", "inbound.services[0]"]}
	hits(with_value("/inbound/services/0/from", [])) == {["inbound-from-internet", "inbound.services[0]"]}
}

test_service_from_any_denied if {
	hits(with_value("/inbound/services/0/from", "any")) == {["inbound-from-internet", "inbound.services[0].from"]}
}

test_service_from_zero_prefix_denied if {
	hits(with_value("/inbound/services/0/from", ["lan", "::/0"])) == {["inbound-from-internet", "inbound.services[0].from[1]"]}
	hits(with_value("/inbound/services/0/from", ["0.0.0.0/0"])) == {["inbound-from-internet", "inbound.services[0].from[0]"]}
}

test_service_from_network_holding_zero_prefix_denied if {
	p := with_value("/networks/wan", ["0.0.0.0/0", "::/0"])
	q := json.patch(p, [{"op": "replace", "path": "/inbound/services/0/from", "value": ["wan"]}])
	hits(q) == {["inbound-from-internet", "inbound.services[0].from[0]"]}
	messages(q) == {`inbound.services[0].from[0]: service "viewer" accepts connections from the whole internet (network "wan" holds 0.0.0.0/0 and ::/0); name the networks that may connect`}
}

test_service_from_ipv4_mapped_whole_internet_denied if {
	every cidr in ["::ffff:0.0.0.0/96", "::FFFF:0:0/96", "0:0:0:0:0:ffff:0.0.0.0/96", "0000::ffff:0000:0000/96", " ::ffff:0:0/96"] {
		hits(with_value("/inbound/services/0/from", ["lan", cidr])) == {["inbound-from-internet", "inbound.services[0].from[1]"]}
	}
	p := with_value("/networks/wan", ["::ffff:0:0/96"])
	q := json.patch(p, [{"op": "replace", "path": "/inbound/services/0/from", "value": ["wan"]}])
	messages(q) == {`inbound.services[0].from[0]: service "viewer" accepts connections from the whole internet (network "wan" holds ::ffff:0:0/96); name the networks that may connect`}
}

test_service_from_ipv6_96_outside_the_mapped_range_passes if {
	every cidr in ["::ffff:0/96", "::1:ffff:0:0/96", "fd00::ffff:0:0/96", "::ffff:10.0.0.0/104"] {
		count(hits(with_value("/inbound/services/0/from", [cidr]))) == 0
	}
}

test_service_from_wide_but_not_whole_internet_passes if {
	count(hits(with_value("/inbound/services/0/from", ["0.0.0.0/1", "128.0.0.0/1"]))) == 0
}

test_service_from_internet_waivable if {
	count(hits(waive(with_value("/inbound/services/0/from", ["0.0.0.0/0"]), "inbound-from-internet"))) == 0
}

# inbound-no-telnet

test_telnet_ports_denied if {
	hits(with_value("/inbound/services/0/port", 23)) == {["inbound-no-telnet", "inbound.services[0].port"]}
	hits(with_value("/inbound/services/0/port", "2323")) == {["inbound-no-telnet", "inbound.services[0].port"]}
}

test_port_ranges_covering_telnet_denied if {
	hits(with_value("/inbound/services/0/port", "20-30")) == {["inbound-no-telnet", "inbound.services[0].port"]}
	hits(with_value("/inbound/services/0/port", "2000-3000")) == {["inbound-no-telnet", "inbound.services[0].port"]}
	messages(with_value("/inbound/services/0/port", "1-3000")) == {`inbound.services[0].port: service "viewer" listens on ports 23 and 2323 (telnet, Mirai's way in); serve a console over SSH on another port, or not at all`}
}

test_telnet_denied_for_udp_too if {
	p := patch([
		{"op": "replace", "path": "/inbound/services/0/port", "value": 23},
		{"op": "replace", "path": "/inbound/services/0/proto", "value": "udp"},
		{"op": "remove", "path": "/inbound/services/0/consent"},
	])
	hits(p) == {["inbound-no-telnet", "inbound.services[0].port"]}
}

test_every_protocol_covers_telnet if {
	p := patch([
		{"op": "remove", "path": "/inbound/services/0/port"},
		{"op": "replace", "path": "/inbound/services/0/proto", "value": "any"},
		{"op": "remove", "path": "/inbound/services/0/consent"},
	])
	hits(p) == {["inbound-no-telnet", "inbound.services[0].proto"]}
	count(hits(waive(p, "inbound-no-telnet"))) == 0
}

test_portless_protocols_pass if {
	p := patch([
		{"op": "remove", "path": "/inbound/services/0/port"},
		{"op": "replace", "path": "/inbound/services/0/proto", "value": "icmp"},
		{"op": "add", "path": "/inbound/services/0/types", "value": ["echo-request"]},
		{"op": "remove", "path": "/inbound/services/0/consent"},
	])
	count(hits(p)) == 0
	count(hits(json.patch(p, [{"op": "replace", "path": "/inbound/services/0/proto", "value": 2}]))) == 0
}

test_ports_beside_telnet_pass if {
	count(hits(with_value("/inbound/services/0/port", 22))) == 0
	count(hits(with_value("/inbound/services/0/port", "24-2322"))) == 0
	count(hits(with_value("/inbound/services/0/port", "2324-65535"))) == 0
}
