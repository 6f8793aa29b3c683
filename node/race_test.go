//go:build race

package node

// raceEnabled: the race detector is on, which makes CPU-bound tests about
// ten times slower; they size their work down (never their assertions).
const raceEnabled = true
