package traffic

import (
	"testing"
	"time"

	"github.com/devfence/devfence/internal/netlab"
)

// quietPeerProfile gives both kinds of consent a long consent.idle, so
// that a peer that says one thing and then falls silent stays consenting
// for as long as the test needs to look (a slow, emulated kernel
// included).
const quietPeerProfile = `version: 1
device: {name: traffic-quiet-peer}
networks:
  lan: ["{{.LAN4}}", "{{.LAN6}}"]
  cloud: ["{{.Cloud.V4}}", "{{.Cloud.V6}}"]
inbound:
  services:
    - {name: viewer, proto: tcp, port: 8443, from: [lan], consent: true}
egress:
  quota: 64KiB/1h
consent:
  idle: 30s
  peers: 16
  bulk:
    - {proto: udp, port: 5000-5100}
  handshakes:
    - {name: upload, to: [cloud], port: 4433, clearToSend: "220"}
`

// TestBannerRightAfterAcceptGrants (sequence a of the consent bug): the
// cloud writes its banner as soon as it has accepted the connection,
// before the device has sent any data, and then says nothing more; the
// device reads the banner and sends nothing on the connection either. The
// banner alone must decide: "220 ready" makes the cloud consenting and
// bulk flows, "500 no" does not (the control that the grant is the
// banner's doing). No heartbeat, no echo: the grant cannot lean on
// packets after the banner. Both forms of the rules: @ih, and @th per TCP
// data offset as on a kernel without @ih.
func TestBannerRightAfterAcceptGrants(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		banner string
		flows  bool
	}{
		{"clear-to-send", "220 ready\r\n", true},
		{"refused", "500 no\r\n", false},
	} {
		for _, form := range ruleForms {
			t.Run(form.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				families(t, func(t *testing.T, fam netlab.Family) {
					lab := netlab.New(t, netlab.WithVictims(0))
					cloud := lab.Cloud
					sink := mustListenUDP(t, cloud, bulkPort)
					mustListenTCP(t, cloud, 4433, netlab.WithBanner([]byte(tc.banner)))
					form.apply(t, lab, quietPeerProfile)
					expectBannerConsent(t, lab, fam, sink, tc.banner, tc.flows)
				})
			})
		}
	}
}

// expectBannerConsent connects the device to the cloud's reserved port,
// reads the banner and, sending nothing more on the connection, checks
// whether the cloud became consenting.
func expectBannerConsent(t *testing.T, lab *netlab.Lab, fam netlab.Family, sink *netlab.UDPSink, banner string, flows bool) {
	t.Helper()
	dev, to := lab.Device, lab.Cloud.Addr(fam)
	c := mustConnect(t, dev, to, 4433)
	if got, err := netlab.ReadN(c, len(banner), arrive); err != nil || string(got) != banner {
		t.Fatalf("positive control: the device read %q (%v) from the cloud, want %q", got, err, banner)
	}
	set := consentSet(fam)
	if !flows {
		sent := sendPaced(t, dev, to, bulkPort, 1000, 50)
		if got := settled(sink.Bytes); got != 0 || sent != 0 {
			t.Errorf("the cloud's banner was %q, yet %d bulk datagrams left the device and %s arrived", banner, sent, kib(got))
		}
		if setHas(t, lab, set, to) {
			t.Errorf("%s holds %s after a refusing banner", set, to)
		}
		return
	}
	// The banner was read, so its packet has passed the input chain: the
	// grant is there now or never.
	if !bulkProbe(t, dev, to) {
		t.Fatalf("the cloud's first data was %q and it said nothing after, but the device may not send it bulk (%s holds it: %v)",
			banner, set, setHas(t, lab, set, to))
	}
	sendWindowed(t, dev, to, bulkPort, 1000, 50, sink.Bytes)
	if err := sink.WaitBytes(45*1000, arrive); err != nil {
		t.Fatalf("bulk after a clear-to-send banner: %v", err)
	}
}

// TestOneRequestThenOnlyACKsGrants (sequence b of the consent bug): the
// viewer connects to the consent service, sends one request, reads the
// device's reply and from then on sends only what its TCP sends by itself
// (the ACK of the reply). That ACK is the client's first packet after the
// device's own first normal segment, so it must grant; nothing later can.
// The control: after the handshake alone the viewer is not consenting.
func TestOneRequestThenOnlyACKsGrants(t *testing.T) {
	t.Parallel()
	families(t, func(t *testing.T, fam netlab.Family) {
		lab := netlab.New(t, netlab.WithVictims(0))
		dev, viewer := lab.Device, lab.Viewer
		svc := mustListenTCP(t, dev, 8443, netlab.WithEcho())
		sink := mustListenUDP(t, viewer, bulkPort)
		applyProfile(t, lab, quietPeerProfile)
		to := viewer.Addr(fam)

		c := mustConnect(t, viewer, dev.Addr(fam), 8443)
		if bulkProbe(t, dev, to) {
			t.Fatalf("the handshake alone made the viewer consenting")
		}
		req := []byte("GET /stream\r\n")
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if got, err := netlab.ReadN(c, len(req), arrive); err != nil || string(got) != string(req) {
			t.Fatalf("positive control: the service answered %q (%v), want %q", got, err, req)
		}
		if err := svc.WaitBytes(int64(len(req)), arrive); err != nil {
			t.Fatal(err)
		}
		// Only the viewer's TCP speaks from here: its ACK of the reply is
		// on its way or already in. Wait for it, bounded.
		if err := netlab.Poll(arrive, 20*time.Millisecond, func() (bool, error) { return bulkProbe(t, dev, to), nil }); err != nil {
			set := consentSet(fam)
			t.Fatalf("after one request and the device's reply the viewer (only ACKing) never became consenting: %v (%s holds it: %v)",
				err, set, setHas(t, lab, set, to))
		}
		sendWindowed(t, dev, to, bulkPort, 1000, 50, sink.Bytes)
		if err := sink.WaitBytes(45*1000, arrive); err != nil {
			t.Fatalf("bulk to a viewer that consented with one request: %v", err)
		}
	})
}

// consentSet is the consent set of a family.
func consentSet(fam netlab.Family) string {
	if fam == netlab.IPv6 {
		return "consent_v6"
	}
	return "consent_v4"
}
