// Command ghostwire is the GhostWire node and its command-line interface.
//
// Run `ghostwire --help` for the nouns and verbs. main only wires the
// process to run, so tests drive the same code in process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
