# Egress: a device that may send anywhere must not be able to flood anyone.
# The quota is the kernel-enforced byte budget per destination (PROFILE.md).
package main

# egress-any-needs-quota: a rule to any address (or to a /0) is exactly what
# an infected device would use against a victim, so some quota must meter it.
policy_ids contains "egress-any-needs-quota"

finding contains make_finding("egress-any-needs-quota", path, msg) if {
	some i, r in input.egress.allow
	via := reaches_internet(r.to)
	not has_quota(r)
	not default_quota_set
	path := sprintf("egress.allow[%d]", [i])
	msg := sprintf("%s may send to the whole internet (%s) unmetered; give it a quota, or set egress.quota", [named("rule", r), via])
}

has_quota(obj) if {
	obj.quota != null
}

# A ref passed to a function is evaluated before `not`, so a missing
# input.egress would make `not has_quota(input.egress)` fail; a rule does not.
default_quota_set if input.egress.quota != null

# egress-default-quota: destinations without their own quota share the
# default; without one they are unmetered, and a large one still lets a
# device flood each victim. The bound is a rate, so 20MiB/2h is as good as
# 10MiB/1h.
policy_ids contains "egress-default-quota"

default_quota_max := "10MiB/1h"

finding contains make_finding("egress-default-quota", "egress.quota", msg) if {
	not default_quota_set
	msg := sprintf("no default quota: every allowed destination without its own quota is unmetered; set egress.quota, at most %s", [default_quota_max])
}

finding contains make_finding("egress-default-quota", "egress.quota", msg) if {
	q := input.egress.quota
	q != null
	not quota(q)
	msg := sprintf("quota %v is not SIZE/WINDOW such as 1MiB/1h", [q])
}

finding contains make_finding("egress-default-quota", "egress.quota", msg) if {
	got := quota(input.egress.quota)
	limit := quota(default_quota_max)

	# Cross-multiplied, so the comparison stays in whole numbers.
	got.bytes * limit.seconds > limit.bytes * got.seconds
	msg := sprintf("quota %s lets the device send each destination more than %s; lower it", [input.egress.quota, default_quota_max])
}

# egress-any-proto-to-any: a rule that sends every IP protocol to every
# address leaves nothing for the table to decide but the quota; an infected
# device could use it for any raw protocol (GRE, a covert channel) against
# anyone. Name the protocols the device needs, or the peers.
policy_ids contains "egress-any-proto-to-any"

finding contains make_finding("egress-any-proto-to-any", path, msg) if {
	some i, r in input.egress.allow
	r.proto == "any"
	via := reaches_internet(r.to)
	path := sprintf("egress.allow[%d].proto", [i])
	msg := sprintf("%s may send every IP protocol to the whole internet (%s); name the protocols it needs, or the peers", [named("rule", r), via])
}
