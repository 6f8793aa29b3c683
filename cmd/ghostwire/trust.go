package main

import (
	"context"
	"flag"

	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// The reputation verbs: `trust show`, and the two that feed it, `ioc
// sighting` and `peer rate` (registered with their nouns, written here
// beside what they feed). docs/reputation.md says what the scores mean.

func trustCommand() *command {
	return &command{
		name:    "trust",
		summary: "show how far this node trusts each IOC source, and why",
		usage: `Trust is computed with EigenTrust from the sightings ('ghostwire ioc
sighting') and ratings ('ghostwire peer rate') you and others made, starting
from you and your contacts: a source scores only as far as someone you trust
vouches for it, so identities that only vouch for each other score nothing.
Scores run from 0 to 1, relative to the most trusted source; your own
indicators count as 1. 'ioc list' shows each source's score, '--min-trust'
filters on it, and STIX export writes it into confidence. See docs/reputation.md.

Example:
  ghostwire trust show
  ghostwire trust show bob`,
		verbs: []*verb{
			nodeVerb("show", "trust show [PEER] [--data DIR] [--json]", nil, trustShow),
		},
	}
}

func trustShow(e *env, call *verbCall) error {
	if len(call.args) > 1 {
		return usageError("trust show takes at most one peer (an onion address or a peer's name)")
	}
	peer := ""
	if len(call.args) == 1 {
		peer = call.args[0]
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	rep, err := call.api.Trust(ctx, peer)
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, rep)
	}
	for _, sc := range rep.Scores {
		printf(e.stdout, "%.3f  %s%s\n", sc.Score, who(sc.Peer, sc.Name, sc.You), marks(sc))
		if peer == "" {
			continue
		}
		printf(e.stdout, "  share of all trust %.6f; %.6f of it as pre-trusted\n", sc.Share, sc.Base)
		if len(sc.Vouchers) == 0 {
			printf(e.stdout, "  nobody has sighted its indicators or rated it\n")
		}
		for _, v := range sc.Vouchers {
			printf(e.stdout, "  %+.6f from %s (opinion %g good, %g bad; passes %.0f%% of its trust)\n",
				v.Contribution, who(v.Peer, v.Name, false), v.Good, v.Bad, 100*v.Weight)
		}
	}
	if len(rep.Scores) == 0 {
		printf(e.stderr, "ghostwire: no sightings or ratings yet: sight indicators (ioc sighting) or rate sources (peer rate)\n")
	}
	if peer == "" {
		printf(e.stderr, "ghostwire: %d identities, converged in %d iterations (last change %.1g)\n", rep.Identities, rep.Iterations, rep.Delta)
	}
	return nil
}

func who(onion, name string, you bool) string {
	switch {
	case you:
		return shortID(onion) + " (you)"
	case name != "":
		return name + " " + shortID(onion)
	}
	return shortID(onion)
}

func marks(sc apitype.TrustScore) string {
	if sc.PreTrusted && !sc.You {
		return "  pre-trusted"
	}
	return ""
}

// verdictCall is one call of a verb that signs a verdict on one thing
// (ioc sighting, peer rate): one positional argument and exactly one of
// two flags, whose name is the verdict.
type verdictCall struct {
	verb, what  string // "ioc sighting", "one IOC ID (…)"
	yes, no     string // the two verdicts, each also its flag's name
	isYes, isNo bool   // the flags as given
}

// pick checks the command line and returns the argument and the verdict.
func (v verdictCall) pick(call *verbCall) (arg, verdict string, err error) {
	if len(call.args) != 1 {
		return "", "", usageError("%s takes %s", v.verb, v.what)
	}
	if v.isYes == v.isNo {
		return "", "", usageError("%s needs exactly one of --%s and --%s", v.verb, v.yes, v.no)
	}
	if v.isYes {
		return call.args[0], v.yes, nil
	}
	return call.args[0], v.no, nil
}

// iocSighting is `ioc sighting ID --seen|--false-positive`.
func iocSighting(e *env, call *verbCall, seen, falsePositive bool) error {
	ref, verdict, err := verdictCall{"ioc sighting", "one IOC ID (an item ID, or a content ID stated by one author)",
		"seen", "false-positive", seen, falsePositive}.pick(call)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	x, err := call.api.SightIOC(ctx, ref, verdict)
	if err != nil || call.asJSON {
		return jsonOr(e, x, err)
	}
	printf(e.stdout, "%.16s %s of %.16s by %s\n", x.ID, x.Verdict, x.Target, shortID(x.Source))
	return nil
}

// jsonOr prints x as JSON unless err, which it returns.
func jsonOr(e *env, x any, err error) error {
	if err != nil {
		return err
	}
	return printJSON(e, x)
}

// sightingFlags defines ioc sighting's verdict flags.
func sightingFlags(seen, falsePositive *bool) func(fs *flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		fs.BoolVar(seen, "seen", false, "you met the indicator in the wild")
		fs.BoolVar(falsePositive, "false-positive", false, "the indicator was a false positive")
	}
}

// peerRate is `peer rate PEER --good|--bad`.
func peerRate(e *env, call *verbCall, good, bad bool) error {
	peer, verdict, err := verdictCall{"peer rate", "one source: an onion address or a peer's name",
		"good", "bad", good, bad}.pick(call)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	x, err := call.api.RatePeer(ctx, peer, verdict)
	if err != nil || call.asJSON {
		return jsonOr(e, x, err)
	}
	printf(e.stdout, "rated %s %s\n", shortID(x.Subject), x.Verdict)
	return nil
}

// rateFlags defines peer rate's verdict flags.
func rateFlags(good, bad *bool) func(fs *flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		fs.BoolVar(good, "good", false, "a source to rely on")
		fs.BoolVar(bad, "bad", false, "a source not to rely on")
	}
}
