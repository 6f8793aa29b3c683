package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/ghostwire/ghostwire/taxii"
)

// taxiiTokenFile is the token file's name in the data directory.
const taxiiTokenFile = "taxii-tokens.json"

func taxiiCommand() *command {
	var data, listen, name string
	var expose, collections multiFlag
	var allowRestricted, list, writable bool
	var remove string
	return &command{
		name:    "taxii",
		summary: "serve the collections as a TAXII 2.1 feed on loopback, and make its tokens",
		usage: `serve answers TAXII 2.1 clients (OpenCTI, MISP, a SIEM) on 127.0.0.1 only, over
the running node's collections: one TAXII collection per collection and TLP
level exposed (default: every collection, CLEAR and GREEN), read-only unless
--writable, which imports objects POSTed to a collection as indicators signed
by this node. AMBER,
AMBER+STRICT and RED are exposed only when named in --expose and allowed with
--allow-restricted. Every request needs a token made by 'taxii token': as
'Authorization: Bearer TOKEN', or HTTP Basic with the token's name and the
token. Only the token's hash is kept. See docs/taxii.md.

Example:
  ghostwire taxii token --name opencti
  ghostwire taxii serve --listen 127.0.0.1:9443 --expose default:clear,green`,
		verbs: []*verb{
			{
				name:     "serve",
				synopsis: "taxii serve [--listen 127.0.0.1:PORT] [--expose NAME[:LEVEL,…]]… [--allow-restricted] [--writable] [--data DIR]",
				flags: func(fs *flag.FlagSet) {
					dataDirVar(fs, &data)
					fs.StringVar(&listen, "listen", "127.0.0.1:9443", "loopback `address` to listen on")
					fs.Var(&expose, "expose", "a `collection` to serve, NAME or NAME:LEVEL,LEVEL (repeat)")
					fs.BoolVar(&allowRestricted, "allow-restricted", false, "allow exposing TLP:AMBER, AMBER+STRICT and RED levels named in --expose")
					fs.BoolVar(&writable, "writable", false, "import objects POSTed to a collection, signed by this node (any token that may read it may write)")
				},
				run: func(e *env, args []string) error {
					if len(args) != 0 {
						return usageError("taxii serve takes flags only")
					}
					return taxiiServe(e, data, listen, expose, allowRestricted, writable)
				},
			},
			{
				name:     "token",
				synopsis: "taxii token --name N [--collection NAME[:LEVEL]]… | --list | --remove N [--data DIR]",
				flags: func(fs *flag.FlagSet) {
					dataDirVar(fs, &data)
					fs.StringVar(&name, "name", "", "the token's `name` (its HTTP Basic user name)")
					fs.Var(&collections, "collection", "a `collection` the token may read, NAME or NAME:LEVEL (repeat; default: every exposed one)")
					fs.BoolVar(&list, "list", false, "list the tokens (names and rights; secrets are not kept)")
					fs.StringVar(&remove, "remove", "", "remove the token `named`")
				},
				run: func(e *env, args []string) error {
					if len(args) != 0 {
						return usageError("taxii token takes flags only")
					}
					return taxiiToken(e, data, name, collections, list, remove)
				},
			},
		},
	}
}

// loopbackOnly refuses an address that is not a loopback IP and port: the
// feed carries what the node holds in the clear, and Tor-only nodes must
// not open a port to the network.
func loopbackOnly(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError("--listen %q: give 127.0.0.1:PORT (%v)", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return usageError("--listen %q: only a loopback address (127.0.0.1 or ::1) is allowed; put a TLS proxy in front to serve others", addr)
	}
	if _, err := netip.ParseAddrPort(net.JoinHostPort(host, port)); err != nil {
		return usageError("--listen %q: bad port", addr)
	}
	return nil
}

func taxiiServe(e *env, data, listen string, expose []string, allowRestricted, writable bool) error {
	if err := loopbackOnly(listen); err != nil {
		return err
	}
	xs, err := taxii.ParseExposures(expose, allowRestricted)
	if err != nil {
		return usageError("%v", err)
	}
	path, err := resolveDataDir(data)
	if err != nil {
		return err
	}
	api, err := privateAPIClient(path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, apiTimeout)
	_, err = api.Status(ctx)
	cancel()
	if err != nil {
		return err
	}
	tokens := taxii.TokenFile(filepath.Join(path, taxiiTokenFile))
	if list, err := tokens.List(); err != nil {
		return fail(exitPermission, err, "the token file is "+taxiiTokenFile+" in the data directory; fix its mode (600) or remove it")
	} else if len(list) == 0 {
		printf(e.stderr, "ghostwire: no TAXII token yet: every request will be refused until you make one with 'ghostwire taxii token --name NAME'\n")
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	srv := &http.Server{
		Handler:           taxii.New(api, taxii.Config{Expose: xs, Tokens: tokens, Log: log, Writable: writable}).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	ln, err := net.Listen("tcp", listen) // cloak:allow the TAXII server, loopback only (loopbackOnly)
	if err != nil {
		return fail(exitUnavailable, err, "choose another port with --listen 127.0.0.1:PORT")
	}
	printf(e.stdout, "TAXII 2.1 server on http://%s/taxii2/ (API root /%s/)\n", ln.Addr(), taxii.APIRoot)
	go func() {
		<-e.ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func taxiiToken(e *env, data, name string, collections []string, list bool, remove string) error {
	path, err := resolveDataDir(data)
	if err != nil {
		return err
	}
	if err := (dataDir{path}).checkPrivate(); err != nil {
		return err
	}
	tokens := taxii.TokenFile(filepath.Join(path, taxiiTokenFile))
	switch {
	case list:
		ts, err := tokens.List()
		if err != nil {
			return fail(exitPermission, err, "the token file is "+taxiiTokenFile+" in the data directory; fix its mode (600) or remove it")
		}
		for _, t := range ts {
			rights := "every exposed collection"
			if len(t.Collections) > 0 {
				rights = strings.Join(t.Collections, ", ")
			}
			printf(e.stdout, "%-20s made %s  reads %s\n", t.Name, t.Made.Format(time.RFC3339), rights)
		}
		return nil
	case remove != "":
		if err := tokens.Remove(remove); err != nil {
			return fail(exitFailure, err, "'ghostwire taxii token --list' lists the tokens")
		}
		printf(e.stdout, "removed token %s\n", remove)
		return nil
	case name == "":
		return usageError("taxii token needs --name (or --list, or --remove NAME)")
	}
	secret, err := tokens.Add(rand.Reader, name, collections)
	if err != nil {
		return fail(exitFailure, err, "choose another --name, or remove the old token with 'ghostwire taxii token --remove NAME'")
	}
	printf(e.stdout, "%s\n", secret)
	printf(e.stderr, "token %q made; it is shown only now (only its hash is kept). Use it as 'Authorization: Bearer TOKEN' or HTTP Basic user %s, password TOKEN.\n", name, name)
	return nil
}
