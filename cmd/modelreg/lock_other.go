//go:build !unix

package main

// lockFile is a no-op where flock is missing: concurrent tokens commands
// there can lose a change (the last write wins).
func lockFile(string) (func(), error) { return func() {}, nil }
