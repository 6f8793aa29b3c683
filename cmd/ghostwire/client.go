package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/localapi"
)

// apiTimeout bounds one CLI request.
const apiTimeout = 30 * time.Second

// newAPIClient is the client of the node whose data directory is dataDir.
func newAPIClient(dataDir string) *localapi.Client {
	return localapi.NewClient(filepath.Join(dataDir, "api.sock"))
}

// privateAPIClient is newAPIClient for a command about to send something:
// when a socket is there, the data directory holding it must be ours alone
// (another user who can write there could have put the socket in place).
// Without a socket nothing will be sent, and the client says the node is
// not running.
func privateAPIClient(dir string) (*localapi.Client, error) {
	api := newAPIClient(dir)
	if _, err := os.Lstat(api.Socket()); err == nil {
		if err := (dataDir{dir}).checkPrivate(); err != nil {
			return nil, err
		}
	}
	return api, nil
}

// dataAPIClient is privateAPIClient of the data directory a --data flag
// names (or the default one).
func dataAPIClient(dataFlag string) (*localapi.Client, error) {
	path, err := resolveDataDir(dataFlag)
	if err != nil {
		return nil, err
	}
	return privateAPIClient(path)
}

// kindHints are the CLI's hints for the node's errors that a flag or a
// command of ours fixes; for other kinds the node's own hint is shown.
var kindHints = map[fault.Kind]string{
	fault.NeedsRecipients: "name the recipients with --to",
	fault.UnknownPeer:     "add it first with 'ghostwire peer add ADDRESS'",
	fault.UnknownName:     "list peers with 'ghostwire peer list'",
	fault.UnknownIOC:      "list them with 'ghostwire ioc list'",
	fault.NotSynced:       "no sync completed in time; check 'ghostwire status' and try again",
	fault.ImportFailed:    "see the issues; fix them, or import what converted with --partial",
}

// apiFailure turns the local API client's errors into CLI errors: a node
// that is not running, one that is busy, a socket that is not ours, and the
// API's errors with their exit code (2 for what the user asked wrong, 1 for
// the node's own failures) and hint.
func apiFailure(err error) error {
	if ce := (*cliError)(nil); errors.As(err, &ce) {
		return err // a command chose its exit code already
	}
	var nr *localapi.NotRunningError
	if errors.As(err, &nr) {
		return fail(exitNotRunning, err, fmt.Sprintf("start it with 'ghostwire run --data %s'", filepath.Dir(nr.Socket)))
	}
	var busy *localapi.BusyError
	if errors.As(err, &busy) {
		return fail(exitBusy, err, "the node is running but did not answer; try again, and see its log if it stays busy")
	}
	var foreign *localapi.ForeignSocketError
	if errors.As(err, &foreign) {
		return fail(exitPermission, err, fmt.Sprintf("nothing was sent; another user put it there: stop the node, remove %s as root, and keep %s private with 'chmod 700 %s'",
			foreign.Socket, filepath.Dir(foreign.Socket), filepath.Dir(foreign.Socket)))
	}
	if errors.Is(err, fs.ErrPermission) {
		return fail(exitPermission, err, "check the owner and mode of the socket and of its directory")
	}
	var ae *localapi.Error
	if !errors.As(err, &ae) {
		return err
	}
	hint, ok := kindHints[ae.Kind]
	if !ok {
		hint = ae.Hint
	}
	var hints []string
	if hint != "" {
		hints = append(hints, hint)
	}
	code := exitForStatus(ae.Status)
	if ae.Kind == fault.Malformed {
		code = exitInput
	}
	return fail(code, err, hints...)
}

// exitForStatus is the exit code for an API error status: 2 for what the
// user asked wrong, 1 for the node's own failures.
func exitForStatus(status int) int {
	switch status {
	case 400, 404, 413:
		return exitUsage
	}
	return exitFailure
}
