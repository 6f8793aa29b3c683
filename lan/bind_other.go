//go:build !linux

package lan

import "syscall"

// bindToDevice does nothing where SO_BINDTODEVICE does not exist: the
// socket is still bound to the interface's address, and cloak's LAN
// policy still checks every far end against the interface's networks.
func bindToDevice(string) func(network, address string, c syscall.RawConn) error { return nil }
