package main_test

# consent-needs-tcp

test_udp_consent_service_denied if {
	hits(with_value("/inbound/services/0/proto", "udp")) == {["consent-needs-tcp", "inbound.services[0].consent"]}
}

test_udp_service_without_consent_passes if {
	p := patch([
		{"op": "replace", "path": "/inbound/services/0/proto", "value": "udp"},
		{"op": "replace", "path": "/inbound/services/0/consent", "value": false},
	])
	count(hits(p)) == 0
}

test_consent_needs_tcp_cannot_be_waived if {
	hits(waive(with_value("/inbound/services/0/proto", "udp"), "consent-needs-tcp")) == {
		["consent-needs-tcp", "inbound.services[0].consent"],
		["waiver-valid", "waivers[0].policy"],
	}
}

# consent-idle-range

test_idle_within_range_passes if {
	count(hits(with_value("/consent/idle", "1s"))) == 0
	count(hits(with_value("/consent/idle", "1h"))) == 0
	count(hits(patch([{"op": "remove", "path": "/consent/idle"}]))) == 0
}

test_idle_over_an_hour_denied if {
	hits(with_value("/consent/idle", "1h0m1s")) == {["consent-idle-range", "consent.idle"]}
	messages(with_value("/consent/idle", "2h")) == {"consent.idle: idle 2h is longer than 1h: a peer that left would stay consenting, and unmetered, that long; use 1s to 1h"}
}

test_idle_under_a_second_denied if {
	hits(with_value("/consent/idle", "500ms")) == {["consent-idle-range", "consent.idle"]}
}

# clear-to-send-length

test_clear_to_send_of_16_bytes_passes if {
	count(hits(with_value("/consent/handshakes/0/clearToSend", "0123456789abcdef"))) == 0
}

test_clear_to_send_over_16_bytes_denied if {
	hits(with_value("/consent/handshakes/0/clearToSend", "0123456789abcdefg")) == {["clear-to-send-length", "consent.handshakes[0].clearToSend"]}
}

test_clear_to_send_counts_bytes_not_characters if {
	# Nine characters, eighteen bytes in UTF-8.
	messages(with_value("/consent/handshakes/0/clearToSend", "ééééééééé")) == {`consent.handshakes[0].clearToSend: handshake "cloud-upload" expects 18 bytes of clear-to-send; at most 16 are allowed (one kernel register)`}
}
