//go:build pprof

package main

// Profiling for measurements (make bench-scale PPROF=1), never in the
// default build: pprof exposes the heap, which holds canary passwords and
// tokens, so only a binary built with -tags pprof can serve it, only when
// REVPROBER_PPROF_LISTEN is set, and only on a loopback address.

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("REVPROBER_PPROF_LISTEN")
	if addr == "" {
		return
	}
	if err := servePprof(addr); err != nil {
		fmt.Fprintln(os.Stderr, "revprober: REVPROBER_PPROF_LISTEN:", err)
		os.Exit(2)
	}
}

func servePprof(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: want a loopback IP address and port, such as 127.0.0.1:6060", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	fmt.Fprintln(os.Stderr, "revprober: pprof on http://"+ln.Addr().String()+"/debug/pprof/")
	go func() { _ = http.Serve(ln, mux) }()
	return nil
}
