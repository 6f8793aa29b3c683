package torctl

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadCookie: a cookie is read only from the expected place, from a
// regular 32-byte file that nobody else can write, in a directory nobody
// else can write, owned by root, a tor user or us.
func TestReadCookie(t *testing.T) {
	good := bytes.Repeat([]byte{7}, cookieLen)
	setup := func(t *testing.T) (dir, path string) {
		dir = t.TempDir()
		path = filepath.Join(dir, "control_auth_cookie")
		if err := os.WriteFile(path, good, 0o600); err != nil {
			t.Fatal(err)
		}
		return dir, path
	}
	dir, path := setup(t)
	for _, auth := range []Auth{{CookieFile: path}, {CookieDirs: []string{"/nowhere", dir}}} {
		if b, err := readCookie(path, auth); err != nil || !bytes.Equal(b, good) {
			t.Errorf("readCookie(%+v): %x, %v", auth, b, err)
		}
	}
	cases := []struct {
		name string
		prep func(t *testing.T, dir, path string) (named string, auth Auth)
		why  string
	}{
		{"no cookie named", func(t *testing.T, dir, path string) (string, Auth) { return "", Auth{CookieFile: path} }, "no usable cookie"},
		{"relative path", func(t *testing.T, dir, path string) (string, Auth) {
			return "control_auth_cookie", Auth{CookieDirs: []string{dir}}
		}, "no usable cookie"},
		{"unclean path", func(t *testing.T, dir, path string) (string, Auth) {
			return dir + "/../" + filepath.Base(dir) + "/control_auth_cookie", Auth{CookieDirs: []string{dir}}
		}, "no usable cookie"},
		{"another file than the one given", func(t *testing.T, dir, path string) (string, Auth) {
			other := filepath.Join(dir, "other")
			os.WriteFile(other, good, 0o600)
			return other, Auth{CookieFile: path}
		}, "not the expected one"},
		{"outside the expected directories", func(t *testing.T, dir, path string) (string, Auth) {
			return path, Auth{CookieDirs: []string{"/run/tor"}}
		}, "not the expected one"},
		{"nothing expected", func(t *testing.T, dir, path string) (string, Auth) { return path, Auth{} }, "not the expected one"},
		{"writable by others", func(t *testing.T, dir, path string) (string, Auth) {
			os.Chmod(path, 0o622)
			return path, Auth{CookieFile: path}
		}, "writable by other users"},
		{"directory writable by others", func(t *testing.T, dir, path string) (string, Auth) {
			os.Chmod(dir, 0o777)
			return path, Auth{CookieFile: path}
		}, "writable by other users"},
		{"a symbolic link", func(t *testing.T, dir, path string) (string, Auth) {
			link := filepath.Join(dir, "link")
			os.Symlink(path, link)
			return link, Auth{CookieFile: link}
		}, "cookie file"},
		{"short", func(t *testing.T, dir, path string) (string, Auth) {
			os.WriteFile(path, good[:31], 0o600)
			return path, Auth{CookieFile: path}
		}, "not 32 bytes"},
		{"long", func(t *testing.T, dir, path string) (string, Auth) {
			os.WriteFile(path, append(good, 0), 0o600)
			return path, Auth{CookieFile: path}
		}, "not 32 bytes"},
		{"a directory", func(t *testing.T, dir, path string) (string, Auth) {
			os.Remove(path)
			os.Mkdir(path, 0o700)
			return path, Auth{CookieFile: path}
		}, "not a regular file"},
		{"another user's", func(t *testing.T, dir, path string) (string, Auth) {
			if os.Getuid() != 0 {
				t.Fatal("needs root to chown")
			}
			os.Chown(path, 65534, 65534)
			return path, Auth{CookieFile: path}
		}, "not to root, tor or you"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, path := setup(t)
			named, auth := c.prep(t, dir, path)
			_, err := readCookie(named, auth)
			if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), c.why) {
				t.Errorf("readCookie(%q): %v; want ErrUntrusted saying %q", named, err, c.why)
			}
		})
	}
}

func TestParseAuthChallenge(t *testing.T) {
	h, n := strings.Repeat("ab", 32), strings.Repeat("CD", 32)
	if hash, nonce, ok := parseAuthChallenge("AUTHCHALLENGE SERVERHASH=" + h + " SERVERNONCE=" + n); !ok || hash[0] != 0xab || nonce[31] != 0xcd {
		t.Errorf("a valid reply: %x %x %v", hash, nonce, ok)
	}
	for _, bad := range []string{"", "AUTHCHALLENGE", "AUTHCHALLENGE SERVERHASH=" + h,
		"AUTHCHALLENGE SERVERNONCE=" + n + " SERVERHASH=" + h,
		"AUTHCHALLENGE SERVERHASH=" + h[:62] + " SERVERNONCE=" + n,
		"AUTHCHALLENGE SERVERHASH=" + h + "00 SERVERNONCE=" + n,
		"AUTHCHALLENGE SERVERHASH=" + h + " SERVERNONCE=" + n + " EXTRA=1",
		"AUTHCHALLENGE SERVERHASH=" + h + "  SERVERNONCE=" + n,
		"AUTHCHALLENGE SERVERHASH=" + strings.Repeat("zz", 32) + " SERVERNONCE=" + n} {
		if _, _, ok := parseAuthChallenge(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseAuthChallenge(f *testing.F) {
	f.Add("AUTHCHALLENGE SERVERHASH=" + strings.Repeat("ab", 32) + " SERVERNONCE=" + strings.Repeat("CD", 32))
	f.Add("AUTHCHALLENGE SERVERHASH= SERVERNONCE=")
	f.Fuzz(func(t *testing.T, s string) {
		hash, nonce, ok := parseAuthChallenge(s)
		if ok && (len(hash) != 32 || len(nonce) != 32) {
			t.Fatalf("%q: %d-byte hash, %d-byte nonce", s, len(hash), len(nonce))
		}
	})
}

func TestReplyEnd(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{"", -1},
		{"250-version=0.4.9.8\r\n", -1},
		{"250-version=0.4.9.8\r\n250 OK\r\n", len("250-version=0.4.9.8\r\n250 OK\r\n")},
		{"250 OK\r\n250-next", len("250 OK\r\n")},
		{"552 Unrecognized key\r\n", len("552 Unrecognized key\r\n")},
		{"250 OK", -1},
		{"25 \r\n", -1},
	} {
		if got := replyEnd([]byte(c.in)); got != c.want {
			t.Errorf("replyEnd(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func FuzzReplyEnd(f *testing.F) {
	f.Add([]byte("250-version=0.4.9.8\r\n250 OK\r\n"))
	f.Add([]byte("650 BW 0 0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		end := replyEnd(b)
		if end == -1 {
			return
		}
		if end < 6 || end > len(b) || string(b[end-2:end]) != "\r\n" {
			t.Fatalf("replyEnd(%q) = %d", b, end)
		}
		if replyEnd(b[:end-1]) != -1 {
			t.Fatalf("replyEnd(%q): a strict prefix of the first reply is complete too", b)
		}
	})
}

// TestLocalUser: the tor account is found in the passwd file by its uid,
// and NIS markers, short lines and other uids are not taken for it.
func TestLocalUser(t *testing.T) {
	passwd := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/bash\n+::105:105:::\nbroken:105\n"+
		"debian-tor:x:102:105::/var/lib/tor:/bin/false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for uid, want := range map[int]string{102: "debian-tor", 0: "root", 105: "", 7: ""} {
		if got := localUser(passwd, uid); got != want {
			t.Errorf("localUser(%d) = %q, want %q", uid, got, want)
		}
	}
	if got := localUser(filepath.Join(t.TempDir(), "none"), 0); got != "" {
		t.Errorf("localUser without a passwd file = %q, want none", got)
	}
}
