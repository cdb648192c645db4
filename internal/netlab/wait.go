package netlab

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrTimeout is returned (wrapped) when a bounded wait gives up.
var ErrTimeout = errors.New("netlab: timed out")

// Poll calls cond every interval until it returns true, returns an error, or
// timeout elapses. The loop is bounded both in time and in iterations
// (timeout/interval + 2), so it can never spin. On timeout the returned
// error wraps ErrTimeout.
func Poll(timeout, interval time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return PollContext(ctx, interval, cond)
}

// PollContext is Poll bounded by ctx (which must have a deadline or be
// cancelled by the caller; the iteration bound is derived from the deadline
// when present and capped at 1e6 otherwise).
func PollContext(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	if interval <= 0 {
		interval = 10 * time.Millisecond
	}
	maxIter := 1_000_000
	if dl, ok := ctx.Deadline(); ok {
		maxIter = int(time.Until(dl)/interval) + 2
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for i := 0; i < maxIter; i++ {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w after %d checks: %v", ErrTimeout, i, ctx.Err())
		case <-t.C:
		}
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		t.Reset(interval)
	}
	return fmt.Errorf("%w after %d checks", ErrTimeout, maxIter)
}

// Eventually reports whether cond became true within timeout (polled every
// 10ms).
func Eventually(timeout time.Duration, cond func() bool) bool {
	return Poll(timeout, 10*time.Millisecond, func() (bool, error) { return cond(), nil }) == nil
}
