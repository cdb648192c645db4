package device

import (
	"os"
	"syscall"
)

// EnvCrashAt is for tests only: when it names a step of the state
// machine (docs/APPLY.md), the process kills itself with SIGKILL there,
// so a test can check that the next command recovers from a crash at
// exactly that point.
const EnvCrashAt = "DEVFENCE_TEST_CRASH_AT"

// Crash points, in the order an apply passes them.
const (
	CrashIntentWritten = "intent-written"     // pending state written, table not yet sent
	CrashTableApplied  = "table-applied"      // kernel has the new table, state not yet committed
	CrashTempWritten   = "state-temp-written" // new state file synced, not yet renamed
	CrashTableRestored = "table-restored"     // previous table back, state not yet settled
)

func crashPoint(step string) {
	if os.Getenv(EnvCrashAt) == step {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
