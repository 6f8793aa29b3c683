// Package testnet runs a private Tor network on 127.0.0.1, so that GhostWire's
// tests, its demo and `ghostwire testnet` use real Tor without the internet.
//
// The one thing to know: the network is a set of daemonised tor processes
// that outlive the Go process that started them. Everything needed to find
// and stop them again is in a state file inside the network's directory
// (Load reads it, Stop kills by PID after checking that /proc/PID/cmdline
// names that directory), and Start kills whatever it started when it fails.
//
// # Topology and start order
//
// Four directory authorities and no relays, in TestingTorNetwork mode with
// tor's minimum voting intervals, is the smallest network in which onion
// services work (a service builds 4-hop rendezvous circuits, so it needs 4
// distinct routers) and the fastest to become usable: authorities always
// hold every microdescriptor, so clients never meet a cache that lacks one.
// The start is phased: authority keys are made with tor-gencert in parallel,
// the authorities start, and clients start only once the first authority
// serves a consensus listing every router as Running, Stable, Guard and
// HSDir; clients that start earlier fetch the tiny first consensus and back
// off for tens of seconds. The measurements behind every option are in the
// project's shared tor-testnet notes; each option below says why it is set.
//
// A node joins a running network with its own tor by adding JoinTorrc's lines
// to that tor's configuration.
//
// # Real-network timing
//
// TestingTorNetwork also shortens what a test of the real network's
// behaviour needs: the onion-service time period and the client's HSDir
// re-query block. With Config.RealTiming the clients, and every tor that
// joins through JoinTorrc, run without it; the authorities then vote every
// 300 s, the shortest schedule such a tor accepts (docs/tor.md, "The
// private network and the real one").
package testnet
