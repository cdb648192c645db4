package nflog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/devfence/devfence/rules"
)

// Options configure a Watcher.
type Options struct {
	Group     uint16 // NFLOG group, the profile's log.group
	NetNS     string // network namespace name under NetNSDir; "" is the current one
	CopyRange uint32 // bytes copied per packet; 0 is DefaultCopyRange

	// Table is the compiled profile in force, to tell not-allowed from
	// quota spent and table full; its Name is the live table whose sets are
	// read. nil reports output drops as Unknown.
	Table *rules.Table

	// Warnf reports trouble that does not stop the watch (lost messages).
	Warnf func(format string, args ...any)
}

// Watcher reads one NFLOG group and turns its packets into Records.
type Watcher struct {
	log        *Conn
	sets       *NFTSets // nil without a table
	names      *ifNames
	classifier Classifier
	warnf      func(string, ...any)
	now        func() time.Time
}

// NewWatcher binds the group in the namespace and opens what classification
// needs there: a socket to read quota sets (with a table) and one to name
// interfaces. All sockets are created inside the namespace in one visit.
func NewWatcher(opt Options) (*Watcher, error) {
	w := &Watcher{warnf: opt.Warnf, now: time.Now}
	if w.warnf == nil {
		w.warnf = func(string, ...any) {}
	}
	err := inNetNS(opt.NetNS, func() error {
		var err error
		if w.log, err = dialHere(opt.Group, opt.CopyRange); err != nil {
			return err
		}
		if opt.Table != nil {
			if w.sets, err = dialSets(opt.Table.Name); err != nil {
				return err
			}
		}
		// Without names the records carry "if<N>"; not worth failing for.
		w.names, _ = dialIfNames()
		return nil
	})
	if err != nil {
		w.Close()
		return nil, err
	}
	w.classifier = Classifier{Table: opt.Table}
	if w.sets != nil {
		w.classifier.Sets = w.sets
	}
	return w, nil
}

// Run delivers records to emit until ctx is done (then it returns nil), emit
// fails, or the socket does. Lost messages are reported through Warnf and
// the watch goes on.
func (w *Watcher) Run(ctx context.Context, emit func(Record) error) error {
	// A past deadline wakes a blocked Receive; set once ctx ends, it also
	// makes every later Receive return at once, so the loop cannot miss it.
	stop := context.AfterFunc(ctx, func() { _ = w.log.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		pkts, err := w.log.Receive()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrLost) {
			w.warnf("%v: some drops are not shown", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("reading NFLOG group %d: %w", w.log.Group(), err)
		}
		now := w.now()
		for _, p := range pkts {
			if err := emit(w.Record(p, now)); err != nil {
				return err
			}
		}
	}
}

// Record decodes and classifies one packet received at received.
func (w *Watcher) Record(p Packet, received time.Time) Record {
	r := newRecord(p, received, w.names)
	w.classifier.Classify(&r)
	return r
}

// Close closes the watcher's sockets; the group is unbound with its socket.
func (w *Watcher) Close() error {
	var errs []error
	if w.log != nil {
		errs = append(errs, w.log.Close())
	}
	if w.sets != nil {
		errs = append(errs, w.sets.Close())
	}
	errs = append(errs, w.names.close())
	return errors.Join(errs...)
}
