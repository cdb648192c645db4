// Package traffic proves devfence's security invariants with real packets.
//
// Its tests build network labs (internal/netlab: one network namespace per
// host, joined by veth pairs and a bridge), put a profile in force on the
// device through the product's own apply path, and then send TCP, UDP, ICMP,
// IGMP and raw IP packets between the lab's hosts, counting what arrives.
// Every scenario checks a positive control (traffic the profile allows does
// arrive) next to what must be dropped, so a broken lab cannot make a drop
// test pass.
//
// The package holds no production code: everything is in its _test.go files.
// Run it as root:
//
//	DEVFENCE_KERNEL_TESTS=require go test -count=1 ./internal/traffic/
//
// docs/THREAT.md lists what each test proves and the Mirai-style flood
// report (DEVFENCE_REPORT=1 go test -run TestMiraiReport -v ./internal/traffic/).
package traffic
