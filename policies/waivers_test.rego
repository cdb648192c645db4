package main_test

with_waivers(ws) := with_value("/waivers", ws)

test_valid_waiver_passes if {
	count(hits(with_waivers([{"policy": "inbound-no-telnet", "reason": "serial console on the bench only"}]))) == 0
}

test_waiver_of_unknown_policy_denied if {
	p := with_waivers([{"policy": "egress-any-quota", "reason": "NTP pool addresses are not known"}])
	hits(p) == {["waiver-valid", "waivers[0].policy"]}
	messages(p) == {`waivers[0].policy: no policy has id "egress-any-quota" (docs/POLICIES.md lists them)`}
}

test_waiver_without_reason_denied if {
	hits(with_waivers([{"policy": "inbound-no-telnet", "reason": "because"}])) == {["waiver-valid", "waivers[0].reason"]}
	hits(with_waivers([{"policy": "inbound-no-telnet", "reason": "    ok        "}])) == {["waiver-valid", "waivers[0].reason"]}
	hits(with_waivers([{"policy": "inbound-no-telnet"}])) == {["waiver-valid", "waivers[0].reason"]}
}

test_waiver_without_policy_denied if {
	hits(with_waivers([{"reason": "forgot to say which"}])) == {["waiver-valid", "waivers[0]"]}
}

test_waiver_valid_cannot_be_waived if {
	hits(with_waivers([
		{"policy": "waiver-valid", "reason": "let me do what I want"},
		{"policy": "nonsense", "reason": "a typo in the id"},
	])) == {["waiver-valid", "waivers[0].policy"], ["waiver-valid", "waivers[1].policy"]}
}
