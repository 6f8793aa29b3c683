package main

import (
	"context"
	"flag"
	"time"
)

// The key verbs: list, rotate and revoke the node's subkeys
// (docs/protocol.md §5.9, §5.12). The identity key itself never rotates:
// it is the onion address.

func keyCommand() *command {
	var purpose, reason string
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
  ghostwire key revoke 3f9a02c1 --reason "laptop stolen"`,
		verbs: []*verb{
			nodeVerb("list", "key list [--data DIR] [--json]", nil, keyList),
			nodeVerb("rotate", "key rotate [--purpose signing|encryption] [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.StringVar(&purpose, "purpose", "signing", "which subkey to replace: `signing` or encryption")
			}, func(e *env, call *verbCall) error { return keyRotate(e, call, purpose) }),
			nodeVerb("revoke", "key revoke SUBKEY --reason R [--data DIR] [--json]", func(fs *flag.FlagSet) {
				fs.StringVar(&reason, "reason", "", "why, in one line every peer will see (`R`)")
			}, func(e *env, call *verbCall) error { return keyRevoke(e, call, reason) }),
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
