// Package testenv is how tests meet what scripts/test starts (the
// emulators, browsers and tools of scripts/test.d): a test that needs one
// which is missing is skipped when run by hand, and fails under CI=true,
// so CI can never pass without it.
package testenv

import (
	"os"
	"testing"
)

// Missing skips t saying msg (what is missing and how to get it), or fails
// it when CI=true, saying that what (e.g. "the SNS tests") must run.
func Missing(t testing.TB, msg, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: " + what + " must run)")
	}
	t.Skip(msg)
}
