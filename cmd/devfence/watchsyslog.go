package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/devfence/devfence/internal/nflog"
)

// syslogEmit sends each dropped packet to syslog, facility daemon,
// priority notice, tag "devfence", so watch can run as a service and the
// drops outlive it. socket "" is the system's (/dev/log); a path is a
// unix datagram socket listening there (a test stands one in).
func syslogEmit(socket string, asJSON bool) (func(nflog.Record) error, func() error, error) {
	w := &syslogWriter{socket: socket}
	if err := w.connect(); err != nil {
		where := socket
		if where == "" {
			where = "the system's syslog socket (/dev/log)"
		}
		return nil, nil, fmt.Errorf("syslog: connect to %s: %w", where, err)
	}
	return nflog.LineWriter(w, asJSON), w.Close, nil
}

// syslogWriter writes each Write as one local syslog message, in the
// format log/syslog uses for a local socket: <PRI>TIMESTAMP TAG[PID]: MSG.
// It is not log/syslog because that dials through net.Dial, which links
// Go's DNS resolver into the device build. A write that fails dials again
// and retries once, so a restarted syslog daemon loses no more than the
// message that met it.
type syslogWriter struct {
	socket string // "" tries the system's sockets, as log/syslog does
	conn   net.Conn
}

// daemon.notice
const syslogPriority = 3<<3 | 5

// connect dials the socket; the system's is the first of log/syslog's
// paths that takes a datagram, or else a stream, connection.
func (w *syslogWriter) connect() error {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
	if w.socket != "" {
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: w.socket, Net: "unixgram"})
		if err != nil {
			return err
		}
		w.conn = c
		return nil
	}
	var errs []error
	for _, network := range []string{"unixgram", "unix"} {
		for _, path := range []string{"/dev/log", "/var/run/syslog", "/var/run/log"} {
			c, err := net.DialUnix(network, nil, &net.UnixAddr{Name: path, Net: network})
			if err == nil {
				w.conn = c
				return nil
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (w *syslogWriter) Write(p []byte) (int, error) {
	msg := w.format(p)
	if w.conn != nil {
		if _, err := w.conn.Write(msg); err == nil {
			return len(p), nil
		}
	}
	if err := w.connect(); err != nil {
		return 0, fmt.Errorf("syslog: %w", err)
	}
	if _, err := w.conn.Write(msg); err != nil {
		return 0, fmt.Errorf("syslog: %w", err)
	}
	return len(p), nil
}

func (w *syslogWriter) format(p []byte) []byte {
	b := fmt.Appendf(nil, "<%d>%s devfence[%d]: %s", syslogPriority, time.Now().Format(time.Stamp), os.Getpid(), p)
	if len(p) == 0 || p[len(p)-1] != '\n' {
		b = append(b, '\n')
	}
	return b
}

func (w *syslogWriter) Close() error {
	if w.conn == nil {
		return nil
	}
	err := w.conn.Close()
	w.conn = nil
	return err
}
