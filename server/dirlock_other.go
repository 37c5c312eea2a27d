//go:build !linux

package server

import "os"

// lockExclusive takes no lock outside Linux.
func lockExclusive(f *os.File) (bool, error) { return true, nil }
