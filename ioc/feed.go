package ioc

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
)

// A MISP feed (docs/ioc.md §6.3) is a directory a MISP instance adds as a
// local or network feed: one file per event, <uuid>.json, holding
// {"Event": …}; manifest.json, an object from each event's uuid to its
// metadata (info, date, analysis, threat_level_id, timestamp, Orgc, Tag),
// which MISP reads to decide what to fetch; and hashes.csv, one line
// "md5(value),event uuid" per attribute, which MISP uses to correlate
// without fetching events.

// FeedOrg is an event's creating organisation.
type FeedOrg struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
}

// FeedManifestEntry is what manifest.json says of one event.
type FeedManifestEntry struct {
	Info          string    `json:"info"`
	Date          string    `json:"date"`
	Analysis      string    `json:"analysis"`
	ThreatLevelID string    `json:"threat_level_id"`
	Timestamp     string    `json:"timestamp"`
	Published     bool      `json:"published"`
	Orgc          *FeedOrg  `json:"Orgc,omitempty"`
	Tag           []mispTag `json:"Tag"`
}

// maxFeedValue bounds one property of a feed event other than its
// attributes, as ScanFeedEvent reads it.
const maxFeedValue = 1 << 20

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ScanFeedEvent reads one feed event {"Event": {…}} as it streams, calling
// attr with each attribute's uuid and value, and returns the event's uuid
// and manifest entry. Memory is one attribute at a time.
func ScanFeedEvent(r io.Reader, attr func(uuid, value string) error) (string, FeedManifestEntry, error) {
	var m FeedManifestEntry
	dec := json.NewDecoder(r)
	want := func(d json.Delim) error {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("ioc: feed event: %w", err)
		}
		if t != d {
			return fmt.Errorf("ioc: feed event: %v where %v belongs", t, d)
		}
		return nil
	}
	key := func() (string, error) {
		t, err := dec.Token()
		if err != nil {
			return "", fmt.Errorf("ioc: feed event: %w", err)
		}
		k, ok := t.(string)
		if !ok {
			return "", fmt.Errorf("ioc: feed event: %v where a key belongs", t)
		}
		return k, nil
	}
	if err := want('{'); err != nil {
		return "", m, err
	}
	if k, err := key(); err != nil || k != "Event" {
		return "", m, fmt.Errorf("ioc: feed event: not {\"Event\": …} (%q, %v)", k, err)
	}
	if err := want('{'); err != nil {
		return "", m, err
	}
	var id string
	for dec.More() {
		k, err := key()
		if err != nil {
			return "", m, err
		}
		if k == "Attribute" {
			if err := want('['); err != nil {
				return "", m, err
			}
			for dec.More() {
				var a struct {
					UUID  string `json:"uuid"`
					Value string `json:"value"`
				}
				if err := dec.Decode(&a); err != nil {
					return "", m, fmt.Errorf("ioc: feed event: attribute: %w", err)
				}
				if err := attr(a.UUID, a.Value); err != nil {
					return "", m, err
				}
			}
			if err := want(']'); err != nil {
				return "", m, err
			}
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", m, fmt.Errorf("ioc: feed event: %s: %w", k, err)
		}
		if len(raw) > maxFeedValue {
			return "", m, fmt.Errorf("ioc: feed event: %s is larger than %d bytes", k, maxFeedValue)
		}
		var dst any
		switch k {
		case "uuid":
			dst = &id
		case "info":
			dst = &m.Info
		case "date":
			dst = &m.Date
		case "analysis":
			dst = &m.Analysis
		case "threat_level_id":
			dst = &m.ThreatLevelID
		case "timestamp":
			dst = &m.Timestamp
		case "published":
			dst = &m.Published
		case "Orgc":
			dst = &m.Orgc
		case "Tag":
			dst = &m.Tag
		default:
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return "", m, fmt.Errorf("ioc: feed event: %s: %w", k, err)
		}
	}
	if err := want('}'); err != nil {
		return "", m, err
	}
	if err := want('}'); err != nil {
		return "", m, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", m, errors.New("ioc: feed event: data after the event")
	}
	if !uuidPattern.MatchString(id) {
		return "", m, fmt.Errorf("ioc: feed event: uuid %q is not a UUID", id)
	}
	if m.Tag == nil {
		m.Tag = []mispTag{}
	}
	return id, m, nil
}

// FeedDir writes a MISP feed into a directory, incrementally: an event
// whose file would not change is left as it is (MISP, comparing the
// manifest's timestamps, fetches only what changed), and manifest.json and
// hashes.csv always cover every event in the directory.
type FeedDir struct {
	dir      string
	manifest map[string]FeedManifestEntry
	written  map[string]bool
}

// OpenFeedDir opens (creating it if needed) a feed directory, reading its
// manifest if it has one.
func OpenFeedDir(dir string) (*FeedDir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f := &FeedDir{dir: dir, manifest: map[string]FeedManifestEntry{}, written: map[string]bool{}}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	} else if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &f.manifest); err != nil {
		return nil, fmt.Errorf("ioc: %s/manifest.json: %w; remove it (and the events) to write the feed afresh", dir, err)
	}
	for id := range f.manifest {
		if !uuidPattern.MatchString(id) {
			return nil, fmt.Errorf("ioc: %s/manifest.json names %q, which is not an event UUID; remove it to write the feed afresh", dir, id)
		}
	}
	return f, nil
}

// Event writes one event through write (which writes {"Event": …}, as
// MISPWriter does) and reports whether its file changed.
func (f *FeedDir) Event(write func(io.Writer) error) (id string, changed bool, err error) {
	tmp, err := os.CreateTemp(f.dir, ".event-*.json")
	if err != nil {
		return "", false, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	sum := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, sum), 64<<10)
	if err := write(bw); err != nil {
		return "", false, err
	}
	if err := bw.Flush(); err != nil {
		return "", false, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", false, err
	}
	id, m, err := ScanFeedEvent(bufio.NewReader(tmp), func(string, string) error { return nil })
	if err != nil {
		return "", false, err
	}
	f.manifest[id], f.written[id] = m, true
	path := filepath.Join(f.dir, id+".json")
	if old, err := fileSum(path); err == nil && bytes.Equal(old, sum.Sum(nil)) {
		return id, false, nil
	}
	if err := tmp.Chmod(0o644); err != nil { // a web server serves the feed
		return "", false, err
	}
	if err := tmp.Sync(); err != nil {
		return "", false, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", false, err
	}
	return id, true, nil
}

func fileSum(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// Close writes manifest.json and hashes.csv over every event in the
// manifest: those written now and those of earlier exports.
func (f *FeedDir) Close() error {
	ids := make([]string, 0, len(f.manifest))
	for id := range f.manifest {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	err := writeAtomic(filepath.Join(f.dir, "hashes.csv"), func(w io.Writer) error {
		for _, id := range ids {
			fh, err := os.Open(filepath.Join(f.dir, id+".json"))
			if err != nil {
				return fmt.Errorf("ioc: the manifest names event %s but its file is missing (%v); remove the entry or write the feed afresh", id, err)
			}
			_, _, err = ScanFeedEvent(bufio.NewReader(fh), func(_, value string) error {
				h := md5.Sum([]byte(value))
				_, err := fmt.Fprintf(w, "%s,%s\n", hex.EncodeToString(h[:]), id)
				return err
			})
			fh.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(f.dir, "manifest.json"), func(w io.Writer) error {
		return json.NewEncoder(w).Encode(f.manifest)
	})
}

func writeAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".feed-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 64<<10)
	if err := write(bw); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
