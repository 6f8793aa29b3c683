package lan

import "syscall"

// bindToDevice returns a socket control function that ties a socket to
// the interface ifname (SO_BINDTODEVICE): its packets leave through that
// interface whatever the routing table says, so a route to the same
// address through another network cannot carry them there.
func bindToDevice(ifname string) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptString(int(fd), syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, ifname)
		})
		if err != nil {
			return err
		}
		return serr
	}
}
