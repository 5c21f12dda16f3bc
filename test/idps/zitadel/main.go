// Command zitadel-op serves the zitadel/oidc example OpenID Provider on
// 127.0.0.1 for revprober's integration tests (test/idps), with its own
// confidential client and canary user.
//
//	zitadel-op [-listen 127.0.0.1:0]
//
// It prints "READY <issuer>" on stdout once it listens. Secrets come from
// the environment (CLIENT_SECRET, CANARY_PASSWORD) with test defaults.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/text/language"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

// The canary-app client.
const (
	clientID    = "canary-app"
	redirectURI = "http://127.0.0.1/callback"
)

// users is a storage.UserStore holding only canaries.
type users map[string]*storage.User

func (u users) GetUserByID(id string) *storage.User { return u[id] }
func (u users) ExampleClientID() string             { return storage.ServiceUserID }
func (u users) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return x
		}
	}
	return nil
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "listen address (loopback only)")
	canaries := flag.Int("canaries", 8, "canary users canary01…canaryNN (one per concurrent test case)")
	verbose := flag.Bool("v", false, "log every request to stderr")
	flag.Parse()

	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintf(os.Stderr, "zitadel-op: -listen %q: a loopback address is required\n", *listen)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "zitadel-op:", err)
		os.Exit(1)
	}
	issuer := fmt.Sprintf("http://%s/", ln.Addr())

	storage.RegisterClients(storage.WebClient(clientID, env("CLIENT_SECRET", "canary-secret"), redirectURI))
	us := users{}
	for i := 1; i <= *canaries; i++ {
		name := fmt.Sprintf("canary%02d", i)
		us["id-"+name] = &storage.User{
			ID:                "id-" + name,
			Username:          name,
			Password:          env("CANARY_PASSWORD", "canary-password"),
			FirstName:         "Canary",
			LastName:          name,
			Email:             name + "@example.com",
			EmailVerified:     true,
			PreferredLanguage: language.English,
		}
	}
	store := storage.NewStorage(us)

	var logOut io.Writer = io.Discard
	if *verbose {
		logOut = os.Stderr
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
	router := exampleop.SetupServer(issuer, store, logger, false)

	srv := &http.Server{Handler: router}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		_ = srv.Close()
	}()
	fmt.Printf("READY %s\n", issuer)
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "zitadel-op:", err)
		os.Exit(1)
	}
}
