# Consent: a peer earns unmetered bulk by completing a TCP handshake. These
# policies keep that proof meaningful and the state it creates bounded.
package main

# consent-needs-tcp: only a completed three-way handshake shows that a peer
# really holds its address; a UDP packet's source can be spoofed. Waiving it
# would not trade risk for function but make consent mean nothing, so it is
# unwaivable.
policy_ids contains "consent-needs-tcp"

unwaivable contains "consent-needs-tcp"

finding contains make_finding("consent-needs-tcp", path, msg) if {
	some i, s in input.inbound.services
	s.consent == true
	s.proto != "tcp"
	path := sprintf("inbound.services[%d].consent", [i])
	msg := sprintf("%s is %v, but consent needs a completed TCP handshake, which a spoofed packet cannot give; make it tcp or drop consent", [named("service", s), s.proto])
}

# consent-idle-range: under a second, consent flaps between packets of a live
# session; over an hour, a peer that left stays trusted with bulk traffic.
policy_ids contains "consent-idle-range"

idle_min_ns := 1000000000

idle_max_ns := 3600000000000

finding contains make_finding("consent-idle-range", "consent.idle", msg) if {
	idle := input.consent.idle
	ns := time.parse_duration_ns(idle)
	ns < idle_min_ns
	msg := sprintf("idle %v is shorter than 1s: consent would lapse between packets of a live session; use 1s to 1h", [idle])
}

finding contains make_finding("consent-idle-range", "consent.idle", msg) if {
	idle := input.consent.idle
	ns := time.parse_duration_ns(idle)
	ns > idle_max_ns
	msg := sprintf("idle %v is longer than 1h: a peer that left would stay consenting, and unmetered, that long; use 1s to 1h", [idle])
}

# clear-to-send-length: the greeting is a marker, not a secret; 16 bytes fit
# one kernel register, so the match stays a single comparison per packet.
policy_ids contains "clear-to-send-length"

clear_to_send_max := 16

finding contains make_finding("clear-to-send-length", path, msg) if {
	some i, h in input.consent.handshakes
	n := count(hex.encode(h.clearToSend)) / 2
	n > clear_to_send_max
	path := sprintf("consent.handshakes[%d].clearToSend", [i])
	msg := sprintf("%s expects %d bytes of clear-to-send; at most %d are allowed (one kernel register)", [named("handshake", h), n, clear_to_send_max])
}
