package slapdtest

import "syscall"

// procAttr makes the kernel kill slapd when the test process dies, so that
// no server outlives a crashed or killed test run.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
