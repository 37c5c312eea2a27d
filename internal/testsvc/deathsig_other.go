//go:build !linux

package testsvc

import "os/exec"

// DiesWithParent returns cmd: only Linux has a parent-death signal.
func DiesWithParent(cmd *exec.Cmd) *exec.Cmd { return cmd }
