package main_test

no_default_quota := patch([{"op": "remove", "path": "/egress/quota"}])

# egress-any-needs-quota

test_any_metered_by_default_quota_passes if {
	count(hits(patch([{"op": "remove", "path": "/egress/allow/2/quota"}]))) == 0
}

test_any_with_own_quota_passes_without_default if {
	hits(no_default_quota) == {["egress-default-quota", "egress.quota"]}
}

test_any_without_any_quota_denied if {
	p := json.patch(no_default_quota, [{"op": "remove", "path": "/egress/allow/2/quota"}])
	hits(p) == {["egress-any-needs-quota", "egress.allow[2]"], ["egress-default-quota", "egress.quota"]}
	hits(waive(p, "egress-default-quota")) == {["egress-any-needs-quota", "egress.allow[2]"]}
}

test_zero_prefix_counts_as_any if {
	p := json.patch(no_default_quota, [
		{"op": "add", "path": "/networks/internet", "value": ["::/0"]},
		{"op": "add", "path": "/egress/allow/-", "value": {"name": "a", "to": ["0.0.0.0/0"], "proto": "tcp", "port": 80}},
		{"op": "add", "path": "/egress/allow/-", "value": {"name": "b", "to": ["lan", "internet"], "proto": "tcp", "port": 80}},
	])
	hits(waive(p, "egress-default-quota")) == {["egress-any-needs-quota", "egress.allow[3]"], ["egress-any-needs-quota", "egress.allow[4]"]}
}

test_narrow_rule_without_quota_passes_any_policy if {
	# cloud-api has no quota and no default; only the default policy objects.
	hits(no_default_quota) == {["egress-default-quota", "egress.quota"]}
}

# egress-default-quota

test_default_quota_at_the_bound_passes if {
	count(hits(with_value("/egress/quota", "10MiB/1h"))) == 0
	count(hits(with_value("/egress/quota", "20MiB/2h"))) == 0
	count(hits(with_value("/egress/quota", "240MiB/24h"))) == 0
}

test_default_quota_over_the_bound_denied if {
	hits(with_value("/egress/quota", "11MiB/1h")) == {["egress-default-quota", "egress.quota"]}
	hits(with_value("/egress/quota", "1MiB/1m")) == {["egress-default-quota", "egress.quota"]}
	hits(with_value("/egress/quota", "10485761B/1h")) == {["egress-default-quota", "egress.quota"]}
	hits(with_value("/egress/quota", "1TiB/1s")) == {["egress-default-quota", "egress.quota"]}
	messages(with_value("/egress/quota", "64MiB/1h")) == {"egress.quota: quota 64MiB/1h lets the device send each destination more than 10MiB/1h; lower it"}
}

test_unreadable_default_quota_denied if {
	messages(with_value("/egress/quota", "lots")) == {"egress.quota: quota lots is not SIZE/WINDOW such as 1MiB/1h"}
}

test_missing_default_quota_denied if {
	messages(no_default_quota) == {"egress.quota: no default quota: every allowed destination without its own quota is unmetered; set egress.quota, at most 10MiB/1h"}
}

# egress-any-proto-to-any

any_proto_rule(to) := with_value("/egress/allow/-", {"name": "all", "to": to, "proto": "any", "quota": "1KiB/1h"})

test_any_proto_to_any_denied if {
	hits(any_proto_rule("any")) == {["egress-any-proto-to-any", "egress.allow[3].proto"]}
	messages(any_proto_rule("any")) == {`egress.allow[3].proto: rule "all" may send every IP protocol to the whole internet (any); name the protocols it needs, or the peers`}
}

test_any_proto_to_a_zero_prefix_denied if {
	p := json.patch(any_proto_rule(["internet"]), [{"op": "add", "path": "/networks/internet", "value": ["::/0"]}])
	hits(p) == {["egress-any-proto-to-any", "egress.allow[3].proto"]}
}

test_any_proto_to_named_peers_passes if {
	count(hits(any_proto_rule(["lan"]))) == 0
}

test_named_protocols_to_any_pass if {
	count(hits(with_value("/egress/allow/-", {"name": "ping", "to": "any", "proto": "icmp", "types": ["echo-request"]}))) == 0
	count(hits(with_value("/egress/allow/-", {"name": "raw", "to": "any", "proto": 253}))) == 0
}

test_any_proto_to_any_waivable if {
	count(hits(waive(any_proto_rule("any"), "egress-any-proto-to-any"))) == 0
}
