package main_test

import data.main

# valid is examples/baby-monitor.yaml as conftest hands it to Rego; each test
# patches it to break one thing.
valid := {
	"version": 1,
	"device": {"name": "baby-monitor", "description": "4K camera"},
	"networks": {
		"lan": ["192.168.1.0/24", "fd00:1::/64"],
		"vendor-cloud": ["203.0.113.10", "2001:db8:10::10"],
		"resolvers": ["192.168.1.1"],
	},
	"inbound": {
		"policy": "established-only",
		"services": [{"name": "viewer", "proto": "tcp", "port": 8443, "from": ["lan"], "consent": true}],
	},
	"egress": {
		"quota": "1MiB/1h",
		"total": "64MiB/1h",
		"allow": [
			{"name": "dns", "to": ["resolvers"], "proto": "udp", "port": 53, "quota": "64KiB/10m"},
			{"name": "cloud-api", "to": ["vendor-cloud"], "proto": "tcp", "port": 443},
			{"name": "ntp", "to": "any", "proto": "udp", "port": 123, "quota": "16KiB/1h"},
		],
	},
	"consent": {
		"idle": "30s",
		"peers": 1024,
		"bulk": [{"proto": "udp", "port": "5000-5100"}],
		"handshakes": [{"name": "cloud-upload", "to": ["vendor-cloud"], "port": 4433, "clearToSend": "220"}],
	},
	"essentials": {"loopback": true, "dhcp": true, "ipv6-nd": true, "icmp": "errors"},
	"limits": {"peers": 65536, "ipv6Prefix": 64},
	"log": {"drops": "10/minute", "group": 0},
}

# hits(p) is each denial of profile p as [policy, path].
hits(p) := h if {
	h := {[d.policy, d.path] | some d in main.deny} with input as p
}

# messages(p) is the text of each denial of profile p.
messages(p) := m if {
	m := {d.msg | some d in main.deny} with input as p
}

patch(ops) := json.patch(valid, ops)

with_value(path, value) := patch([{"op": "add", "path": path, "value": value}])

waive(p, id) := json.patch(p, [{"op": "add", "path": "/waivers", "value": [{"policy": id, "reason": "tested on purpose"}]}])

test_valid_profile_passes if {
	count(main.finding) == 0 with input as valid
}

test_minimal_profile_only_lacks_a_default_quota if {
	hits({"version": 1, "device": {"name": "x"}}) == {["egress-default-quota", "egress.quota"]}
}

test_policy_ids if {
	main.policy_ids == {
		"clear-to-send-length",
		"consent-idle-range",
		"consent-needs-tcp",
		"egress-any-needs-quota",
		"egress-any-proto-to-any",
		"egress-default-quota",
		"inbound-established-only",
		"inbound-from-internet",
		"inbound-no-telnet",
		"peer-tables-bounded",
		"waiver-valid",
	}
}

test_findings_are_conftest_results if {
	ds := main.deny with input as with_value("/inbound/services/0/port", 23)
	count(ds) == 1
	some d in ds
	object.keys(d) == {"msg", "policy", "path"}
	d.policy == "inbound-no-telnet"
	d.path == "inbound.services[0].port"
	startswith(d.msg, "inbound.services[0].port: ")
}

test_size_bytes if {
	main.size_bytes("512B") == 512
	main.size_bytes("64KiB") == 65536
	main.size_bytes("1MiB") == 1048576
	main.size_bytes("2GiB") == 2147483648
	main.size_bytes("1TiB") == 1099511627776
}

test_size_bytes_refuses_other_forms if {
	not main.size_bytes("1KB")
	not main.size_bytes("KiB")
	not main.size_bytes("1.5MiB")
	not main.size_bytes("-1B")
	not main.size_bytes("1 MiB")
	not main.size_bytes("1024")
}

test_quota if {
	main.quota("1MiB/1h") == {"bytes": 1048576, "seconds": 3600}
	main.quota("64KiB/10m") == {"bytes": 65536, "seconds": 600}
	not main.quota("1MiB")
	not main.quota("1MiB/0s")
	not main.quota("1MiB/soon")
	not main.quota("1MiB/1h/2")
	not main.quota(1048576)
}

test_port_range if {
	main.port_range(23) == [23, 23]
	main.port_range("23") == [23, 23]
	main.port_range("20-30") == [20, 30]
	main.port_range(" 5000 - 5100 ") == [5000, 5100]
}

test_whole_internet if {
	main.whole_internet("0.0.0.0/0")
	main.whole_internet("::/0")
	main.whole_internet("0::/0")
	not main.whole_internet("0.0.0.0/1")
	not main.whole_internet("10.0.0.0/8")
	not main.whole_internet("0.0.0.0")
	not main.whole_internet("lan")
	not main.whole_internet(0)
}

test_waived_only_when_listed if {
	main.waived("inbound-no-telnet") with input as waive(valid, "inbound-no-telnet")
	not main.waived("inbound-no-telnet") with input as waive(valid, "egress-default-quota")
	not main.waived("inbound-no-telnet") with input as valid
}

test_unwaivable_policies_are_never_waived if {
	not main.waived("waiver-valid") with input as waive(valid, "waiver-valid")
	not main.waived("consent-needs-tcp") with input as waive(valid, "consent-needs-tcp")
}

test_waiver_hides_its_policy_and_is_reported if {
	p := waive(with_value("/inbound/services/0/port", 23), "inbound-no-telnet")
	count(hits(p)) == 0
	main.waived_policies == {"inbound-no-telnet"} with input as p
}

test_waiver_hides_no_other_policy if {
	p := waive(with_value("/inbound/services/0/port", 23), "egress-default-quota")
	hits(p) == {["inbound-no-telnet", "inbound.services[0].port"]}
	count(main.waived_policies) == 0 with input as p
}

test_unnamed_objects_are_described_by_kind if {
	main.named("rule", {"name": "ntp"}) == `rule "ntp"`
	main.named("rule", {}) == "rule"
}

test_findings_without_policy_still_deny if {
	main.deny == {"a plain message", {"msg": "no policy key"}} with main.finding as {"a plain message", {"msg": "no policy key"}}
		with input as valid
}
