package main

import (
	"fmt"
	"log/syslog"

	"github.com/devfence/devfence/internal/nflog"
)

// syslogEmit sends each dropped packet to syslog, facility daemon,
// priority notice, tag "devfence", so watch can run as a service and the
// drops outlive it. socket "" is the system's (/dev/log); a path is a
// unix datagram socket listening there (a test stands one in). log/syslog
// dials again when a write fails, so a restarted syslog daemon loses no
// more than the message that met it.
func syslogEmit(socket string, asJSON bool) (func(nflog.Record) error, func() error, error) {
	network := ""
	if socket != "" {
		network = "unixgram"
	}
	w, err := syslog.Dial(network, socket, syslog.LOG_NOTICE|syslog.LOG_DAEMON, "devfence")
	if err != nil {
		where := socket
		if where == "" {
			where = "the system's syslog socket (/dev/log)"
		}
		return nil, nil, fmt.Errorf("syslog: connect to %s: %w", where, err)
	}
	return nflog.LineWriter(w, asJSON), w.Close, nil
}
