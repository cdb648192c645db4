# Limits: every tracking table lives in kernel memory, and a full one refuses
# new peers (fail closed). Tables beyond about a million peers cost hundreds
# of megabytes on a device that has a few, so a larger size is a typo or a
# misunderstanding; waive it when a gateway-class device really needs it.
package main

policy_ids contains "peer-tables-bounded"

peers_max := 1048576

finding contains make_finding("peer-tables-bounded", path, msg) if {
	some path in ["limits.peers", "consent.peers"]
	[section, field] := split(path, ".")
	n := input[section][field]
	is_number(n)
	n > peers_max

	# format_int, not %d: conftest reads YAML numbers as floats (4.194304e+06).
	msg := sprintf("%s peers is more than %d; every tracked peer costs kernel memory", [format_int(n, 10), peers_max])
}
