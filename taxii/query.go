package taxii

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Query limits.
const (
	// MaxPage is the most objects one page holds (TAXII 2.1 §3.4: a server
	// may answer a larger limit with fewer).
	MaxPage = 1000
	// maxLimit is the largest limit taken at all: a larger one is a
	// client's mistake (limit=10^12), told as such rather than clamped.
	maxLimit = 1_000_000
	// maxMatch bounds the values of one match[] filter.
	maxMatch = 100
)

// objectsQuery is what GET …/objects/ and …/manifest/ ask (TAXII 2.1
// §3.4 and §5.3): added_after, limit, next and the match[] filters.
type objectsQuery struct {
	addedAfter  time.Time
	limit       int
	next        string
	ids, types  []string
	versions    []time.Time // match[version] timestamps
	allVersions bool        // "all", "first" or "last" (one version is kept per object)
	specOK      bool        // match[spec_version] names 2.1, or is absent
}

// nextPattern is the shape of a next token: the node's cursor, "µs.id".
var nextPattern = regexp.MustCompile(`^[0-9]{1,19}\.[0-9a-f]{64}$`)

// idPattern is a STIX identifier: type--UUID (STIX 2.1 §2.9).
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,249}--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// typePattern is a STIX type name (STIX 2.1 §2.8... a-z, 0-9, hyphen).
var typePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,249}$`)

// parseObjectsQuery reads and checks a query; the error says what to send.
func parseObjectsQuery(v url.Values) (objectsQuery, error) {
	q := objectsQuery{limit: MaxPage, specOK: true}
	for k := range v {
		switch k {
		case "added_after", "limit", "next", "match[id]", "match[type]", "match[version]", "match[spec_version]":
		default:
			return q, fmt.Errorf("unknown query parameter %q (TAXII 2.1 takes added_after, limit, next and match[id|type|version|spec_version])", k)
		}
		if len(v[k]) != 1 {
			return q, fmt.Errorf("%s given %d times; give it once (match[] values are comma-separated)", k, len(v[k]))
		}
	}
	if s := v.Get("added_after"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return q, fmt.Errorf("added_after %q is not a timestamp like 2026-12-01T00:00:00.000Z", s)
		}
		q.addedAfter = t
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 || n > maxLimit {
			return q, fmt.Errorf("limit %q: give a number from 1 to %d (pages hold at most %d objects; follow next for more)", s, maxLimit, MaxPage)
		}
		q.limit = min(int(n), MaxPage)
	}
	if s := v.Get("next"); s != "" {
		if !nextPattern.MatchString(s) {
			return q, fmt.Errorf("next %q is not one this server gave; send back the next of the last page unchanged", s)
		}
		q.next = s
	}
	var err error
	if q.ids, err = matchList(v, "match[id]", idPattern); err != nil {
		return q, err
	}
	if q.types, err = matchList(v, "match[type]", typePattern); err != nil {
		return q, err
	}
	if s, ok := v["match[version]"]; ok {
		for _, x := range strings.Split(s[0], ",") {
			switch x = strings.TrimSpace(x); x {
			case "all", "first", "last":
				q.allVersions = true
			default:
				t, err := time.Parse(time.RFC3339Nano, x)
				if err != nil {
					return q, fmt.Errorf("match[version] %q: give all, first, last or timestamps", x)
				}
				q.versions = append(q.versions, t)
			}
		}
		if len(q.versions) > maxMatch {
			return q, fmt.Errorf("match[version] has more than %d values", maxMatch)
		}
	}
	if s, ok := v["match[spec_version]"]; ok {
		q.specOK = false
		for _, x := range strings.Split(s[0], ",") {
			if strings.TrimSpace(x) == "2.1" {
				q.specOK = true
			}
		}
	}
	return q, nil
}

func matchList(v url.Values, key string, pattern *regexp.Regexp) ([]string, error) {
	s, ok := v[key]
	if !ok {
		return nil, nil
	}
	var out []string
	for _, x := range strings.Split(s[0], ",") {
		x = strings.TrimSpace(x)
		if !pattern.MatchString(x) {
			return nil, fmt.Errorf("%s: %q is not a STIX %s", key, x, strings.TrimSuffix(strings.TrimPrefix(key, "match["), "]"))
		}
		out = append(out, x)
	}
	if len(out) > maxMatch {
		return nil, fmt.Errorf("%s has more than %d values", key, maxMatch)
	}
	return out, nil
}

// keepVersion reports whether an object of version v passes match[version].
func (q *objectsQuery) keepVersion(v time.Time) bool {
	if len(q.versions) == 0 || q.allVersions {
		return true
	}
	for _, t := range q.versions {
		if t.Equal(v) {
			return true
		}
	}
	return false
}
