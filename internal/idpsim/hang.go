package idpsim

import (
	"bytes"
	"net/http"
	"strings"
	"time"
)

// The hang faults: an endpoint that answers its status and headers at
// once, then trickles the body a byte a second, as a congested proxy or a
// stuck back end does. Nothing in the answer is wrong; it just never ends
// in time, so only a per-request time limit saves the run.

const trickleEvery = time.Second

// hangs reports whether a hang fault holds r's endpoint.
func (s *Server) hangs(r *http.Request) bool {
	f, p := s.Faults(), r.URL.Path
	return (f.HangIntrospection && strings.HasSuffix(p, janssenRestv1+"/introspection")) ||
		(f.HangUserinfo && strings.HasSuffix(p, janssenRestv1+"/userinfo")) ||
		(f.HangToken && strings.HasSuffix(p, janssenRestv1+"/token"))
}

// trickle serves r into a buffer, then sends the answer a byte at a time
// until it is all out or the client gives up.
func (s *Server) trickle(w http.ResponseWriter, r *http.Request) {
	buf := &bufferedAnswer{header: http.Header{}, status: http.StatusOK}
	s.mux.ServeHTTP(buf, r)
	for k, v := range buf.header {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(buf.status)
	flusher, _ := w.(http.Flusher)
	for _, b := range buf.body.Bytes() {
		if flusher != nil {
			flusher.Flush()
		}
		if !sleep(r.Context(), trickleEvery) {
			return
		}
		if _, err := w.Write([]byte{b}); err != nil {
			return
		}
	}
}

// bufferedAnswer is an http.ResponseWriter that keeps the answer.
type bufferedAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedAnswer) Header() http.Header         { return b.header }
func (b *bufferedAnswer) WriteHeader(status int)      { b.status = status }
func (b *bufferedAnswer) Write(p []byte) (int, error) { return b.body.Write(p) }
