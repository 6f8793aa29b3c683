package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// The key verbs: list, rotate and revoke the node's subkeys
// (docs/protocol.md §5.9, §5.12). The identity key itself never rotates:
// it is the onion address.

func keyCommand() *command {
	var purpose, reason string
	var ident, yes bool
	return &command{
		name:    "key",
		summary: "list, rotate and revoke this node's subkeys",
		usage: `Your identity (the onion address) certifies a signing subkey, which signs your
indicators, sightings and ratings; the node replaces it with a new one every
month, and the old one's items stay valid. If a device or a copy of the data
directory may have been stolen, revoke its subkey: the revocation goes to every
peer first in each session, and from then on every peer refuses what that
subkey signs after the revocation time. Items it signed before stay valid.
The reason is public to every peer; keep it short.

It also certifies an encryption subkey, which peers seal your direct messages
to; the node replaces it every week and destroys the old private key two weeks
later. From then on the messages sealed to it are listed as unreadable, here
and in any copy of the data directory, even with the passphrase.

Example:
  ghostwire key list
  ghostwire key rotate --purpose signing
  ghostwire key rotate --purpose encryption
  ghostwire key revoke 3f9a02c1 --reason "laptop stolen"
  ghostwire key revoke --identity --reason "identity key copied"

Revoking the identity (--identity) is final: every peer that receives the
revocation marks you revoked and refuses your connections and everything you
sign from then on. Do it when identity.key itself may have been copied, then
make a new identity in a new data directory and pair with your contacts again.`,
		verbs: []*verb{
			nodeVerb("list", "key list [--data DIR] [--json]", nil, keyList),
			nodeVerb("rotate", "key rotate [--purpose signing|encryption] [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.StringVar(&purpose, "purpose", "signing", "which subkey to replace: `signing` or encryption")
			}, func(e *env, call *verbCall) error { return keyRotate(e, call, purpose) }),
			nodeVerb("revoke", "key revoke SUBKEY --reason R | key revoke --identity --reason R [--yes] [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.StringVar(&reason, "reason", "", "why, in one line every peer will see (`R`)")
				fs.BoolVar(&ident, "identity", false, "revoke this identity itself, for good: the address is dead afterwards")
				fs.BoolVar(&yes, "yes", false, "with --identity: do not ask on the terminal (scripts)")
			}, func(e *env, call *verbCall) error {
				if ident {
					return identityRevoke(e, call, reason, yes)
				}
				if yes {
					return usageError("--yes is for key revoke --identity")
				}
				return keyRevoke(e, call, reason)
			}),
		},
	}
}

func keyList(e *env, call *verbCall) error {
	if len(call.args) != 0 {
		return usageError("key list takes no arguments")
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	x, err := call.api.Keys(ctx)
	if err != nil || call.asJSON {
		return jsonOr(e, x, err)
	}
	printf(e.stdout, "identity  %s\n", x.Identity)
	if x.Revoked != nil {
		printf(e.stdout, "revoked   %s (%s): peers refuse this identity\n", x.Revoked.At.Format(time.DateOnly), x.Revoked.Reason)
	}
	for _, s := range x.Subkeys {
		line := s.Key[:16] + "  " + s.Purpose + "  " + s.Start.Format(time.DateOnly) + " to " + s.End.Format(time.DateOnly) + "  " + s.State
		switch {
		case s.State == "grace" && s.Destroy != nil:
			line += " until " + s.Destroy.Format(time.DateOnly) + ", then destroyed"
		case s.State == "destroyed" && s.Destroy != nil:
			line += " on " + s.Destroy.Format(time.DateOnly)
		case s.Retired != nil && s.State != "current":
			line += " since " + s.Retired.Format(time.DateOnly)
		}
		if s.Reason != "" {
			line += " (" + s.Reason + ")"
		}
		printf(e.stdout, "%s\n", line)
	}
	if len(x.Subkeys) == 0 {
		printf(e.stderr, "ghostwire: no subkey yet: the node certifies one when it first signs an indicator, sighting or rating\n")
	}
	return nil
}

func keyRotate(e *env, call *verbCall, purpose string) error {
	if len(call.args) != 0 {
		return usageError("key rotate takes no arguments; say which subkey with --purpose")
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	x, err := call.api.RotateKey(ctx, purpose)
	if err != nil || call.asJSON {
		return jsonOr(e, x, err)
	}
	printf(e.stdout, "new %s subkey %s, valid to %s\n", x.Purpose, x.Key[:16], x.End.Format(time.DateOnly))
	return nil
}

func keyRevoke(e *env, call *verbCall, reason string) error {
	if len(call.args) != 1 {
		return usageError("key revoke takes one subkey (its key as key list shows it)")
	}
	if reason == "" {
		return usageError("key revoke needs --reason: every peer sees it with the revocation")
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	x, err := call.api.RevokeKey(ctx, call.args[0], reason)
	if err != nil || call.asJSON {
		return jsonOr(e, x, err)
	}
	printf(e.stdout, "revoked subkey %s; peers learn it at their next sync\n", x.Key[:16])
	return nil
}

// identityRevoke revokes our identity after a confirmation typed on the
// terminal, or with --yes; without either it refuses, since the step
// cannot be undone.
func identityRevoke(e *env, call *verbCall, reason string, yes bool) error {
	if len(call.args) != 0 {
		return usageError("key revoke --identity takes no subkey: it revokes this identity itself")
	}
	if reason == "" {
		return usageError("key revoke --identity needs --reason: every peer sees it with the revocation")
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	kl, err := call.api.Keys(ctx)
	if err != nil {
		return err
	}
	if !yes {
		if err := confirmIdentityRevoke(e, kl.Identity); err != nil {
			return err
		}
	}
	x, err := call.api.RevokeIdentity(ctx, reason)
	if err != nil || call.asJSON {
		return jsonOr(e, x, err)
	}
	printf(e.stdout, "revoked identity %s from %s\n", x.Identity, x.At.Local().Format("2006-01-02 15:04:05"))
	printf(e.stderr, "ghostwire: every peer that syncs with this node (or with a peer that did) now marks it revoked\n"+
		"ghostwire: and refuses its connections and anything it signs from now on; this address is dead.\n"+
		"ghostwire: hint: keep the node running until your peers have synced, then make a new identity\n"+
		"ghostwire: hint: in a new data directory ('ghostwire init --data NEWDIR') and pair with your contacts again\n")
	return nil
}

// confirmIdentityRevoke says what revoking the identity means and asks,
// on a terminal only, that the user type the word revoke.
func confirmIdentityRevoke(e *env, id string) error {
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return fail(exitUsage, errors.New("key revoke --identity asks for confirmation on a terminal, and there is none"),
			"it cannot be undone; if you mean it, pass --yes")
	}
	printf(e.stderr, "This revokes the identity %s for good.\nEvery peer that receives the revocation refuses this address and everything it\nsigns from now on; nothing can bring it back. Type revoke to go on: ", id)
	line, err := bufio.NewReader(io.LimitReader(f, 64)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fail(exitFailure, fmt.Errorf("reading the answer: %w", err))
	}
	if strings.TrimSpace(line) != "revoke" {
		return fail(exitFailure, errors.New("not revoked: the confirmation was not typed"),
			"to revoke only a device's key, revoke its subkey instead: ghostwire key revoke SUBKEY --reason R")
	}
	return nil
}
