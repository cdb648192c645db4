# waiver-valid: a waiver is a reviewed decision, so it must name a policy that
# exists (a typo would otherwise silently waive nothing, or the wrong thing)
# and say why. Its id is registered in lib.rego and it cannot be waived.
package main

reason_min := 10

finding contains make_finding("waiver-valid", path, msg) if {
	some i, w in input.waivers
	not names_policy(w)
	path := sprintf("waivers[%d]", [i])
	msg := "names no policy; give the id of the policy being waived"
}

finding contains make_finding("waiver-valid", path, msg) if {
	some i, w in input.waivers
	names_policy(w)
	not policy_ids[w.policy]
	path := sprintf("waivers[%d].policy", [i])
	msg := sprintf("no policy has id %q (docs/POLICIES.md lists them)", [w.policy])
}

finding contains make_finding("waiver-valid", path, msg) if {
	some i, w in input.waivers
	unwaivable[w.policy]
	path := sprintf("waivers[%d].policy", [i])
	msg := sprintf("policy %q cannot be waived", [w.policy])
}

finding contains make_finding("waiver-valid", path, msg) if {
	some i, w in input.waivers
	not explained(w)
	path := sprintf("waivers[%d].reason", [i])
	msg := sprintf("a waiver says why the profile breaks its policy, in at least %d characters", [reason_min])
}

explained(w) if {
	is_string(w.reason)
	count(trim_space(w.reason)) >= reason_min
}

names_policy(w) if is_string(w.policy)
