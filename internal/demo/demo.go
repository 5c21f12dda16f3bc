// Package demo is `revprober demo`: the built-in Janssen-compatible
// simulator plus a configuration that probes it through every driver.
package demo

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"sort"
	"text/template"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/idpsim"
)

// The demo config is demo.yml.tmpl (globals) followed by every
// targets_*.yml.tmpl (one file per driver family, each a list of
// targets), in file name order.
//
//go:embed demo.yml.tmpl targets_*.yml.tmpl
var templates embed.FS

// Sim is a running simulator.
type Sim struct {
	Server *idpsim.Server
	URL    string // http://127.0.0.1:PORT
	srv    *http.Server
}

// StartSim serves a default simulator on addr ("127.0.0.1:0" picks a port).
func StartSim(addr string, faults idpsim.Faults) (*Sim, error) {
	return StartSimWith(addr, idpsim.Options{Faults: faults})
}

// StartSimWith serves the simulator opts describe on addr.
func StartSimWith(addr string, opts idpsim.Options) (*Sim, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	s := idpsim.New(opts)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &Sim{Server: s, URL: "http://" + ln.Addr().String(), srv: srv}, nil
}

// Close stops the simulator.
func (s *Sim) Close() error { return s.srv.Close() }

// Params fill the demo configuration.
type Params struct {
	SimURL   string
	Listen   string
	Interval string
	Timeout  string
	Deadline string
	Hold     string
}

// ConfigYAML renders the demo configuration for a simulator at p.SimURL.
func ConfigYAML(p Params) []byte {
	if p.Interval == "" {
		p.Interval = "15s"
	}
	if p.Timeout == "" {
		p.Timeout = "10s"
	}
	if p.Deadline == "" {
		p.Deadline = "5s"
	}
	if p.Hold == "" {
		p.Hold = "250ms" // short: the demo answers within about one deadline
	}
	if p.Listen == "" {
		p.Listen = "127.0.0.1:9543"
	}
	var b bytes.Buffer
	t := template.Must(template.New("demo").Funcs(template.FuncMap{"canary": canary, "target": target}).
		ParseFS(templates, "demo.yml.tmpl", "targets_*.yml.tmpl"))
	if err := t.ExecuteTemplate(&b, "demo.yml.tmpl", p); err != nil {
		panic(err) // the templates are embedded: a failure is a bug caught by tests
	}
	names, _ := fs.Glob(templates, "targets_*.yml.tmpl")
	sort.Strings(names)
	for _, n := range names {
		if err := t.ExecuteTemplate(&b, n, p); err != nil {
			panic(err)
		}
	}
	return b.Bytes()
}

// canaries are the simulator's generated canary users the demo probes
// log in, one per probe: a default simulator has them all
// (idpsim.DefaultCanaries).
var canaries = idpsim.CanaryUsers(idpsim.DefaultCanaries)

// canary is the demo's canary number n (from 1).
func canary(n int) (idpsim.User, error) {
	if n < 1 || n > len(canaries) {
		return idpsim.User{}, fmt.Errorf("canary %d: the simulator has canaries 1 to %d (idpsim.DefaultCanaries)", n, len(canaries))
	}
	return canaries[n-1], nil
}

// simTarget is the argument of the "sim-target" template.
type simTarget struct {
	P    Params
	Name string
	U    idpsim.User
}

func target(p Params, name string, n int) (simTarget, error) {
	u, err := canary(n)
	return simTarget{P: p, Name: name, U: u}, err
}

// Config parses the demo configuration through the same path as a user's.
func Config(p Params, opts config.LoadOptions) (*config.Config, error) {
	return config.Parse("demo.yml", ConfigYAML(p), opts)
}
