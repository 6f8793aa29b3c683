package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/localapi/apitype"
)

// The peer verbs of contact states and requests (docs/trust.md). The node
// decides; these only ask it and print what it says.

// findPeer returns the peer named by an address or a local name, as the
// node lists it (for its safety number before verifying).
func findPeer(e *env, call *verbCall, s string) (*apitype.Peer, error) {
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	ps, err := call.api.Peers(ctx)
	if err != nil {
		return nil, err
	}
	want := s
	if id, err := identity.ParseID(s); err == nil {
		want = id.String()
	}
	for i := range ps {
		if ps[i].Onion == want || ps[i].Name == s {
			return &ps[i], nil
		}
	}
	return nil, fail(exitFailure, fmt.Errorf("unknown peer %s", s), "list the peers with 'ghostwire peer list'; add it with 'ghostwire peer add' first")
}

func peerVerify(e *env, call *verbCall, safety string) error {
	if len(call.args) != 1 {
		return usageError("peer verify takes one onion address or name")
	}
	p, err := findPeer(e, call, call.args[0])
	if err != nil {
		return err
	}
	if safety == "" {
		if safety, err = confirmSafetyNumber(e, p); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	v, err := call.api.VerifyPeer(ctx, call.args[0], safety)
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, v)
	}
	printf(e.stdout, "verified %s %s\n", v.Onion, v.Name)
	return nil
}

// confirmSafetyNumber shows the number and asks, on a terminal only, that
// the user confirm the peer sees the same. It returns the number confirmed.
func confirmSafetyNumber(e *env, p *apitype.Peer) (string, error) {
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", fail(exitUsage, errors.New("peer verify needs a terminal to confirm the safety number"),
			"compare the number out of band, then pass the number the peer reads you: --safety-number N")
	}
	who := p.Name
	if who == "" {
		who = p.Onion
	}
	printf(e.stderr, "Safety number with %s:\n\n  %s\n\nCompare it with the number %s sees, out of band (in person, or on a call\nyou trust). Only if every digit matches, type yes: ", who, p.SafetyNumber, who)
	line, err := bufio.NewReader(io.LimitReader(f, 64)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fail(exitFailure, fmt.Errorf("reading the answer: %w", err))
	}
	if a := strings.ToLower(strings.TrimSpace(line)); a != "yes" && a != "y" {
		return "", fail(exitFailure, errors.New("not verified: the safety number was not confirmed"),
			"if the numbers differ, you may not be talking to the identity you added; do not verify it")
	}
	return p.SafetyNumber, nil
}

func peerBlock(e *env, call *verbCall) error {
	return peerStateVerb(e, call, "block", "blocked", call.api.BlockPeer)
}

func peerUnblock(e *env, call *verbCall) error {
	return peerStateVerb(e, call, "unblock", "unblocked", call.api.UnblockPeer)
}

func peerStateVerb(e *env, call *verbCall, verb, done string, do func(context.Context, string) (*apitype.Peer, error)) error {
	if len(call.args) != 1 {
		return usageError("peer %s takes one onion address or name", verb)
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	p, err := do(ctx, call.args[0])
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, p)
	}
	printf(e.stdout, "%s %s %s\n", done, p.Onion, p.Name)
	return nil
}

func peerRequests(e *env, call *verbCall) error {
	if len(call.args) != 0 {
		return usageError("peer requests takes no arguments")
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	rs, err := call.api.Requests(ctx)
	if err != nil {
		return err
	}
	if call.asJSON {
		if rs == nil {
			rs = []apitype.ContactRequest{}
		}
		return printJSON(e, rs)
	}
	for _, r := range rs {
		printf(e.stdout, "%s  first %s, last %s\n  safety number %s\n", r.Onion,
			r.First.Format("2006-01-02 15:04Z"), r.Last.Format("2006-01-02 15:04Z"), r.SafetyNumber)
	}
	if len(rs) == 0 {
		fmt.Fprintln(e.stderr, "ghostwire: no pending contact requests")
	}
	return nil
}

func peerAccept(e *env, call *verbCall, name string) error {
	if len(call.args) != 1 {
		return usageError("peer accept takes one onion address, as 'peer requests' lists it")
	}
	if err := checkUTF8("the name", name); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	p, err := call.api.AcceptRequest(ctx, call.args[0], name)
	if err != nil {
		return err
	}
	if call.asJSON {
		return printJSON(e, p)
	}
	printf(e.stdout, "accepted %s %s (unverified: compare the safety number, then 'peer verify')\n", p.Onion, p.Name)
	return nil
}

func peerIgnore(e *env, call *verbCall) error {
	if len(call.args) != 1 {
		return usageError("peer ignore takes one onion address, as 'peer requests' lists it")
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	defer cancel()
	if err := call.api.IgnoreRequest(ctx, call.args[0]); err != nil {
		return err
	}
	printf(e.stderr, "ghostwire: ignored %s; its requests are not kept until you add it\n", call.args[0])
	return nil
}

// printContactsStatus is status's lines about contacts, requests, refused
// peers and quotas.
func printContactsStatus(e *env, st *apitype.Status) {
	c := st.Contacts
	printf(e.stdout, "contacts    %d verified, %d unverified, %d blocked, %d revoked\n", c.Verified, c.Unverified, c.Blocked, c.Revoked)
	if c.Requests > 0 || c.RequestsDropped > 0 {
		dropped := ""
		if c.RequestsDropped > 0 {
			dropped = fmt.Sprintf("; %d dropped (too many, or too fast)", c.RequestsDropped)
		}
		printf(e.stdout, "requests    %d pending (at most %d); see 'ghostwire peer requests'%s\n", c.Requests, c.MaxRequests, dropped)
	}
	for _, r := range c.Refused {
		printf(e.stdout, "refused     %s: %s, %d handshakes refused, last %s\n", shortID(r.Peer), r.State, r.Count, r.Last.Format("2006-01-02 15:04:05Z"))
	}
	for _, q := range st.Quota {
		verified := "unverified"
		if q.Verified {
			verified = "verified"
		}
		hint := "verify it to raise the limit"
		if q.Verified {
			hint = "it is verified; block it if the flood is unwanted"
		}
		printf(e.stdout, "quota       %s %s (%s) reached its limit (%d items, %d bytes): %d items refused; %s\n",
			q.Who, shortID(q.ID), verified, q.MaxItems, q.MaxBytes, q.Refused, hint)
	}
}

// shownState is a message's state as msg list prints it: why a queued
// message waits, when the node knows (docs/trust.md §2).
func shownState(m *apitype.Message) string {
	if m.Waiting != "" {
		return m.Waiting
	}
	return m.State
}
