package testsvc

import (
	"os/exec"
	"syscall"
)

// DiesWithParent makes the process cmd starts get SIGKILL when this one
// dies (Linux's parent-death signal), and returns cmd: a child left
// running when the test binary is killed (go test -timeout, kill -9, a
// CI job cancelled), such as a `safehold serve` holding its port, data
// dir and database connections, went on for ever, reparented to init.
// The signal comes when the thread that started the child ends, which in
// Go is only when a goroutine that locked its thread ends without
// unlocking it: no test helper starts a child from one.
func DiesWithParent(cmd *exec.Cmd) *exec.Cmd {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	return cmd
}
