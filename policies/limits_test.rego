package main_test

test_peer_tables_at_the_bound_pass if {
	p := patch([
		{"op": "replace", "path": "/limits/peers", "value": 1048576},
		{"op": "replace", "path": "/consent/peers", "value": 1048576},
	])
	count(hits(p)) == 0
}

test_peer_tables_over_the_bound_denied if {
	hits(with_value("/limits/peers", 1048577)) == {["peer-tables-bounded", "limits.peers"]}
	hits(with_value("/consent/peers", 2000000)) == {["peer-tables-bounded", "consent.peers"]}
	messages(with_value("/consent/peers", 2000000)) == {"consent.peers: 2000000 peers is more than 1048576; every tracked peer costs kernel memory"}
}

test_peer_tables_waivable if {
	count(hits(waive(with_value("/limits/peers", 4194304), "peer-tables-bounded"))) == 0
}

test_peer_count_printed_whole_when_read_as_a_float if {
	messages(with_value("/limits/peers", 4.194304e+06)) == {"limits.peers: 4194304 peers is more than 1048576; every tracked peer costs kernel memory"}
}
