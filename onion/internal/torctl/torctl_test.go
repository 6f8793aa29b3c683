package torctl

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

func TestParsePhase(t *testing.T) {
	tests := []struct {
		name, in string
		want     Phase
		wantErr  bool
	}{
		{"getinfo done", `NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`, Phase{100, "done", "Done", ""}, false},
		{"quoted spaces", `NOTICE BOOTSTRAP PROGRESS=14 TAG=handshake SUMMARY="Handshaking with a relay"`, Phase{14, "handshake", "Handshaking with a relay", ""}, false},
		{"escaped quote", `NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="a \"b\" c"`, Phase{5, "conn", `a "b" c`, ""}, false},
		{"no severity", `BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting"`, Phase{0, "starting", "Starting", ""}, false},
		{"warning", `WARN BOOTSTRAP PROGRESS=10 TAG=conn_done SUMMARY="x" WARNING="No route to host" REASON=NOROUTE`, Phase{10, "conn_done", "x", "No route to host"}, false},
		{"empty", ``, Phase{}, true},
		{"not bootstrap", `NOTICE CIRCUIT_ESTABLISHED`, Phase{}, true},
		{"no progress", `NOTICE BOOTSTRAP TAG=done`, Phase{}, true},
		{"progress over 100", `NOTICE BOOTSTRAP PROGRESS=101 TAG=done`, Phase{}, true},
		{"negative progress", `NOTICE BOOTSTRAP PROGRESS=-1 TAG=done`, Phase{}, true},
		{"unterminated quote", `NOTICE BOOTSTRAP PROGRESS=1 SUMMARY="abc`, Phase{}, true},
		{"too long", "NOTICE BOOTSTRAP PROGRESS=1 SUMMARY=" + strings.Repeat("a", maxStatusLen), Phase{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePhase(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParsePhase(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("ParsePhase(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParsePhase checks that no input panics and that every accepted phase
// has a progress in range. Seeds: testdata/phases.txt, real tor lines.
func FuzzParsePhase(f *testing.F) {
	file, err := os.Open("testdata/phases.txt")
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		f.Add(sc.Text())
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePhase(s)
		if err == nil && (p.Progress < 0 || p.Progress > 100) {
			t.Fatalf("accepted progress %d", p.Progress)
		}
	})
}
