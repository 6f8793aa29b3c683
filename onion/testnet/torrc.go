package testnet

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Implementation constants, from the measurements in the tor-testnet notes.
const (
	// DefaultAuthorities is 4: with 3 routers clients never bootstrap ("No
	// available nodes"), and 4 authorities with no relays was the fastest
	// and steadiest topology measured.
	DefaultAuthorities = 4
	// DefaultClients is the number of plain client tors Start runs.
	DefaultClients = 2
	// stateFile names the JSON file in the network directory that Load reads.
	stateFile = "testnet.json"
	// dirAuthFile names the shared file of DirAuthority lines every torrc includes.
	dirAuthFile = "dirauth"
	// emptyGeoIPFile is an empty file used as GeoIPFile: parsing the 2 MB
	// GeoIP files costs each tor about 34 MB and a second of CPU.
	emptyGeoIPFile = "empty-geoip"
	// resolvConfFile keeps any DNS a tor might attempt on loopback.
	resolvConfFile = "resolv.conf"
)

// commonTorrc is what every tor in the network has. Each option's reason:
//   - TestingTorNetwork: private addresses allowed, fast schedules, HSDir
//     re-query after 5 s instead of 15 min; allowed only with custom
//     DirAuthority lines, which the %include supplies.
//   - PathsNeededToBuildCircuits 0.67: the network is tiny (chutney's value).
//   - empty GeoIP files: a third of each tor's memory and half its start CPU.
//   - SafeLogging 0, ShutdownWaitLength 0, RunAsDaemon 1, PidFile: diagnosis,
//     a quick stop, and a stop by PID.
func commonTorrc(dir, node string) []string {
	return []string{
		"TestingTorNetwork 1",
		"%include " + filepath.Join(dir, dirAuthFile),
		"DataDirectory " + filepath.Join(dir, node),
		"Nickname " + node,
		"RunAsDaemon 1",
		"PidFile " + filepath.Join(dir, node, "pid"),
		"Log notice file " + filepath.Join(dir, node, "notice.log"),
		"SafeLogging 0",
		"ShutdownWaitLength 0",
		"PathsNeededToBuildCircuits 0.67",
		"GeoIPFile " + filepath.Join(dir, emptyGeoIPFile),
		"GeoIPv6File " + filepath.Join(dir, emptyGeoIPFile),
		"ServerDNSResolvConfFile " + filepath.Join(dir, resolvConfFile),
		"ServerDNSDetectHijacking 0",
		"CookieAuthentication 1",
	}
}

// authorityTorrc configures a directory authority. The voting options are
// tor's minimums (dirvote.h): with chutney's 20/4/4 the first full consensus
// comes 15 s later. The two AuthDirVoteStableGuarantee options are the
// critical ones: without them only authorities get Stable, and onion-service
// and vanguard circuits, which need Stable nodes, stall with "No available
// nodes". AssumeReachable skips the reachability self-test that delays the
// first full consensus by 15–25 s.
func authorityTorrc(dir string, n Node) string {
	lines := commonTorrc(dir, n.Name)
	lines = append(lines,
		fmt.Sprintf("ControlPort 127.0.0.1:%d", n.ControlPort),
		"SocksPort 0",
		"Address 127.0.0.1",
		fmt.Sprintf("ORPort 127.0.0.1:%d", n.ORPort),
		fmt.Sprintf("DirPort 127.0.0.1:%d", n.DirPort),
		"AuthoritativeDirectory 1",
		"V3AuthoritativeDirectory 1",
		"AssumeReachable 1",
		"TestingV3AuthInitialVotingInterval 5",
		"TestingV3AuthInitialVoteDelay 2",
		"TestingV3AuthInitialDistDelay 2",
		"V3AuthVotingInterval 10",
		"V3AuthVoteDelay 2",
		"V3AuthDistDelay 2",
		"V3AuthNIntervalsValid 2",
		"AuthDirVoteStableGuaranteeMinUptime 0",
		"AuthDirVoteStableGuaranteeMTBF 0",
		"TestingDirAuthVoteGuard *",
		"TestingDirAuthVoteHSDir *",
		"ExitRelay 0",
		"ExitPolicy reject *:*",
		"ContactInfo ghostwire-testnet@localhost",
	)
	return strings.Join(lines, "\n") + "\n"
}

// realTimingVote is the authorities' voting schedule on a real-timing
// network, set over the control port once the fast schedule has produced a
// full consensus (so the start stays quick). It is the least a tor without
// TestingTorNetwork accepts: its consensus parser (ns_parse.c,
// MIN_VOTE_INTERVAL, MIN_VOTE_SECONDS, MIN_DIST_SECONDS) rejects a consensus
// fresh for under 300 s or with vote or distribution delays under 20 s
// ("Vote/consensus freshness interval is too short"), so on the 10 s
// schedule such a client never bootstraps. Voting every 300 s from the
// start instead made the first full consensus take up to a whole interval.
const realTimingVote = "SETCONF V3AuthVotingInterval=300 V3AuthVoteDelay=20 V3AuthDistDelay=20"

// clientTorrc configures a plain client. ExtendedErrors makes onion failures
// come back as SOCKS5 codes 0xF0–0xF7 instead of a generic failure.
// IsolateSOCKSAuth is tor's default, so per-credential isolation needs no flag.
// With real timing the client runs without TestingTorNetwork, as a node's
// own tor does (realTimingClientTorrc).
func clientTorrc(dir string, n Node, realTiming bool) string {
	lines := commonTorrc(dir, n.Name)
	if realTiming {
		lines = append(realTimingClientTorrc(), lines[1:]...)
	}
	lines = append(lines,
		fmt.Sprintf("ControlPort 127.0.0.1:%d", n.ControlPort),
		fmt.Sprintf("SocksPort 127.0.0.1:%d ExtendedErrors", n.SocksPort),
		"ClientOnly 1",
	)
	return strings.Join(lines, "\n") + "\n"
}

// bridgeTorrc configures a bridge relay with an obfs4 listener. It keeps
// its descriptor to itself (PublishServerDescriptor 0), as a private bridge
// does, so a client reaches it only through the line it was given; tor
// runs obfs4proxy as its server transport, which forwards to tor's ExtORPort.
func bridgeTorrc(dir string, n Node, obfs4proxy string) string {
	lines := commonTorrc(dir, n.Name)
	lines = append(lines,
		fmt.Sprintf("ControlPort 127.0.0.1:%d", n.ControlPort),
		"SocksPort 0",
		"Address 127.0.0.1",
		fmt.Sprintf("ORPort 127.0.0.1:%d", n.ORPort),
		"BridgeRelay 1",
		"PublishServerDescriptor 0",
		"AssumeReachable 1",
		"ServerTransportPlugin obfs4 exec "+obfs4proxy,
		fmt.Sprintf("ServerTransportListenAddr obfs4 127.0.0.1:%d", n.OBFS4Port),
		"ExtORPort auto",
		"ExitRelay 0",
		"ExitPolicy reject *:*",
		"ContactInfo ghostwire-testnet@localhost",
	)
	return strings.Join(lines, "\n") + "\n"
}

// JoinTorrc returns the torrc lines another tor needs to join this network
// as a client: the node's own managed tor appends them to its configuration.
// The node supplies its own DataDirectory, ports and logging.
func (nw *Network) JoinTorrc() string {
	first := []string{"TestingTorNetwork 1"}
	if nw.RealTiming {
		first = realTimingClientTorrc()
	}
	return strings.Join(append(first,
		"%include "+nw.DirAuthFile,
		"PathsNeededToBuildCircuits 0.67",
		"GeoIPFile "+filepath.Join(nw.Dir, emptyGeoIPFile),
		"GeoIPv6File "+filepath.Join(nw.Dir, emptyGeoIPFile),
		"ClientOnly 1",
	), "\n") + "\n"
}

// realTimingClientTorrc replaces TestingTorNetwork for a client of a
// real-timing network. Without TestingTorNetwork tor computes the onion
// service time period from the consensus (hsdir_interval, 24 h by default)
// and blocks re-asking an HSDir that lacked a descriptor for 15 min, as on
// the Tor network. Of everything TestingTorNetwork implies, a client on
// loopback needs only ExtendAllowPrivateAddresses: without it every circuit
// dies at its first hop ("Client asked me to connect directly to a private
// address") and the client never fetches a consensus. Tried and not needed:
// EnforceDistinctSubnets 0 (all routers share 127.0.0.0/16, yet such a
// client bootstrapped and reached an onion), ClientRejectInternalAddresses 0
// (it governs SOCKS targets, and the node dials only onions). The custom
// DirAuthority lines make tor warn that the client looks different from
// other Tor users; on loopback that is the point.
func realTimingClientTorrc() []string {
	return []string{"ExtendAllowPrivateAddresses 1"}
}
