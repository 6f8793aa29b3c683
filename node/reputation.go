package node

import (
	"encoding/hex"
	"fmt"

	"github.com/ghostwire/ghostwire/fault"
	"github.com/ghostwire/ghostwire/identity"
	"github.com/ghostwire/ghostwire/item"
	"github.com/ghostwire/ghostwire/localapi/apitype"
	"github.com/ghostwire/ghostwire/rating"
	"github.com/ghostwire/ghostwire/reputation"
)

// Ratings returns the sightings and ratings service (package rating),
// which the local API calls for ioc sighting and peer rate.
func (n *Node) Ratings() *rating.Service { return n.rate }

// preTrusted is the set EigenTrust starts from besides ourselves
// (docs/reputation.md §2): the contacts the user has verified, whose
// identity was checked out of band (a blocked or revoked one is not
// verified). A contact added by address alone is trusted no more than
// anyone its verified contacts vouch for.
func (n *Node) preTrusted() []identity.ID { return n.contacts.Verified() }

// Trust computes every source's global trust from the sightings and
// ratings held (docs/reputation.md).
func (n *Node) Trust() (*reputation.Trust[identity.ID], error) { return n.rate.Trust(n.preTrusted()) }

// SourceTrust returns each author's score as ioc list shows it and
// export's confidence uses: relative to the most trusted identity, and 1
// for our own indicators.
func (n *Node) SourceTrust() (func(identity.ID) float64, error) {
	tr, err := n.Trust()
	if err != nil {
		return nil, err
	}
	return func(id identity.ID) float64 {
		if id == n.id {
			return 1
		}
		return tr.Score(id)
	}, nil
}

// TrustReport ranks every identity the node has opinions about, or, given
// one, explains its score: what it gets as pre-trusted and who vouches for
// it with what weight.
func (n *Node) TrustReport(only *identity.ID) (*apitype.TrustReport, error) {
	tr, err := n.Trust()
	if err != nil {
		return nil, err
	}
	rep := &apitype.TrustReport{Identities: tr.Len(), Iterations: tr.Iterations, Delta: tr.Delta, Scores: []apitype.TrustScore{}}
	if only == nil {
		for _, id := range tr.Ranked() {
			ex := tr.Explain(id)
			rep.Scores = append(rep.Scores, n.trustScore(ex))
		}
		return rep, nil
	}
	ex := tr.Explain(*only)
	sc := n.trustScore(ex)
	for _, v := range ex.Vouchers {
		sc.Vouchers = append(sc.Vouchers, apitype.TrustVoucher{Peer: v.From.String(), Name: n.peerName(v.From),
			Good: v.Good, Bad: v.Bad, Weight: v.Weight, Contribution: v.Contribution})
	}
	rep.Scores = append(rep.Scores, sc)
	return rep, nil
}

func (n *Node) trustScore(ex reputation.Explanation[identity.ID]) apitype.TrustScore {
	return apitype.TrustScore{Peer: ex.Subject.String(), Name: n.peerName(ex.Subject), You: ex.Subject == n.id,
		Score: ex.Score, Share: ex.Trust, PreTrusted: ex.PreTrusted, Base: ex.Base}
}

// Statement finds the one IOC item ref names, for a sighting.
func (h host) Statement(ref string) (*item.Item, error) {
	xs, err := h.n.coll.Show(ref)
	if err != nil {
		return nil, err
	}
	if len(xs) != 1 {
		return nil, fault.Invalidf("give the item ID of one statement (ioc show lists them)", "%d statements match %s", len(xs), ref)
	}
	raw, err := hex.DecodeString(xs[0].ID)
	if err != nil || len(raw) != item.IDSize {
		return nil, fmt.Errorf("node: a listed IOC has a bad ID %q", xs[0].ID)
	}
	it, _, err := h.n.db.GetItem(item.ID(raw))
	return it, err
}
