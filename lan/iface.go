package lan

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// link is the one network interface a LAN transport uses: its name, the
// networks on it (cloak's LAN policy allows peers only inside them), and
// the address we listen on and advertise.
type link struct {
	iface    net.Interface
	prefixes []netip.Prefix
	addr     netip.Addr
}

// usable reports whether an interface can carry LAN mode: up, multicast,
// not loopback.
func usable(ifc net.Interface) bool {
	return ifc.Flags&net.FlagUp != 0 && ifc.Flags&net.FlagMulticast != 0 && ifc.Flags&net.FlagLoopback == 0
}

// chooseLink finds the interface named name, or, if name is empty, the
// only usable interface with a private or link-local address; listen, if
// valid, must be one of its addresses. Several candidates are an error
// that lists them: guessing could advertise on the wrong network.
func chooseLink(name string, listen netip.Addr) (link, error) {
	all, err := net.Interfaces()
	if err != nil {
		return link{}, fmt.Errorf("lan: listing network interfaces: %w", err)
	}
	var found []link
	var names []string
	for _, ifc := range all {
		if name != "" && ifc.Name != name {
			continue
		}
		if !usable(ifc) {
			if name != "" {
				return link{}, fmt.Errorf("lan: interface %s is down, loopback or cannot multicast; choose another with --interface", name)
			}
			continue
		}
		l, ok := linkOf(ifc, listen)
		if !ok {
			if name != "" {
				if listen.IsValid() {
					return link{}, fmt.Errorf("lan: %s is not an address of interface %s; give one of its private addresses with --listen", listen, name)
				}
				return link{}, fmt.Errorf("lan: interface %s has no private (RFC 1918, fc00::/7) or link-local address; LAN mode talks only on the local network", name)
			}
			continue
		}
		found = append(found, l)
		names = append(names, ifc.Name)
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case name != "":
		return link{}, fmt.Errorf("lan: no network interface named %s (see `ip link`)", name)
	case len(found) == 0 && listen.IsValid():
		return link{}, fmt.Errorf("lan: no usable interface has the address %s; give one of your private addresses with --listen", listen)
	case len(found) == 0:
		return link{}, errors.New("lan: no usable network interface with a private or link-local address; connect to the LAN, or name one with --interface")
	}
	return link{}, fmt.Errorf("lan: several interfaces could be the LAN (%s); choose one with --interface", strings.Join(names, ", "))
}

// linkOf reads ifc's networks and picks the address to listen on: listen
// if it is one of them, else the first private IPv4 address, else the
// first IPv6 link-local one (with ifc's zone). It reports false if ifc has
// no fitting address.
func linkOf(ifc net.Interface, listen netip.Addr) (link, bool) {
	addrs, err := ifc.Addrs()
	if err != nil {
		return link{}, false
	}
	l := link{iface: ifc}
	var v4, v6 netip.Addr
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		ones, _ := ipn.Mask.Size()
		if !(ip.IsPrivate() || ip.IsLinkLocalUnicast()) {
			continue
		}
		if ip.Is6() && ip.IsLinkLocalUnicast() {
			ip = ip.WithZone(ifc.Name)
		}
		l.prefixes = append(l.prefixes, netip.PrefixFrom(ip.WithZone(""), ones).Masked())
		switch {
		case listen.IsValid() && ip.WithZone("") == listen.WithZone(""):
			l.addr = ip
		case ip.Is4() && !v4.IsValid() && ip.IsPrivate():
			v4 = ip
		case ip.Is6() && !v6.IsValid() && ip.IsLinkLocalUnicast():
			v6 = ip
		}
	}
	if listen.IsValid() {
		return l, l.addr.IsValid()
	}
	if l.addr = v4; !l.addr.IsValid() {
		l.addr = v6
	}
	return l, l.addr.IsValid()
}
