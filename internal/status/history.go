package status

import (
	"container/heap"
	"math"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/revprober/revprober/internal/verdict"
)

// What the page remembers, bounded by bytes across all probes, not only
// per probe: at 10,000 probes, ten full traces and fifty summaries per probe
// were most of the daemon's memory.
//
//   - Compact summaries (an entry: result, reason, times, propagation, run
//     id) of each probe's latest runs and skip streaks, and of its latest
//     failures and errors, which therefore outlive passes. Per-probe caps,
//     lowered for everyone when the probes' summaries alone would take more
//     than three quarters of the budget.
//   - Full traces (the *verdict.Run behind /runs/{id}) of each probe's latest
//     few runs and of its last failure and last error. Over the budget, the
//     oldest traces go first: first those kept only for being recent, then
//     the last failures and errors. What is dropped here is still in the
//     evidence log when one is configured; the page says so.

// kind is what an entry records.
type kind uint8

const (
	kindPass kind = iota
	kindFail
	kindError
	kindSkipped
)

func kindOf(r verdict.Result) kind {
	switch r {
	case verdict.Pass:
		return kindPass
	case verdict.Fail:
		return kindFail
	}
	return kindError // error, and anything not a pass or fail: never shown as a pass
}

func (k kind) String() string {
	switch k {
	case kindPass:
		return string(verdict.Pass)
	case kindFail:
		return string(verdict.Fail)
	case kindError:
		return string(verdict.Error)
	}
	return "skipped"
}

// entry is one run, or one streak of ticks skipped for one reason, in a
// few dozen bytes.
type entry struct {
	id     string  // run id; "" for a skip streak
	start  int64   // Unix ns: the run's start, or the streak's first skip
	end    int64   // Unix ns: the run's end, or the streak's last skip
	prop   float32 // propagation seconds; NaN when none
	count  uint32  // skips in the streak
	kind   kind
	reason uint8 // interned: the run's reason or the skip reason
}

const entrySize = int64(unsafe.Sizeof(entry{}))

func (e entry) Started() time.Time { return time.Unix(0, e.start) }
func (e entry) Ended() time.Time   { return time.Unix(0, e.end) }
func (e entry) Reason() string     { return reasons.name(e.reason) }

// Propagation is the run's propagation latency, if it has one.
func (e entry) Propagation() (float64, bool) {
	if math.IsNaN(float64(e.prop)) {
		return 0, false
	}
	return float64(e.prop), true
}

func runEntry(r *verdict.Run) entry {
	e := entry{id: r.ID, start: r.Started.UnixNano(), end: r.Started.Add(r.Duration).UnixNano(),
		prop: float32(math.NaN()), kind: kindOf(r.Result), reason: reasons.id(string(r.Reason))}
	if r.PropagationSeconds != nil {
		e.prop = float32(*r.PropagationSeconds)
	}
	return e
}

// reasons interns reason strings (closed lists in practice) to a byte.
var reasons = &internTable{ids: map[string]uint8{}}

type internTable struct {
	mu    sync.Mutex
	ids   map[string]uint8
	names []string
}

func (t *internTable) id(s string) uint8 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.ids[s]; ok {
		return i
	}
	if len(t.names) == math.MaxUint8 {
		return math.MaxUint8 // "other": reasons are closed lists, 255 is far beyond them
	}
	t.names = append(t.names, s)
	t.ids[s] = uint8(len(t.names) - 1)
	return uint8(len(t.names) - 1)
}

func (t *internTable) name(i uint8) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if int(i) < len(t.names) {
		return t.names[i]
	}
	return "other"
}

// ring holds the newest entries, at most its cap.
type ring struct {
	buf   []entry
	first int // index of the oldest once full
}

func (r *ring) len() int { return len(r.buf) }

// at returns the i-th entry, oldest first.
func (r *ring) at(i int) *entry { return &r.buf[(r.first+i)%len(r.buf)] }

func (r *ring) newest() *entry {
	if len(r.buf) == 0 {
		return nil
	}
	return r.at(len(r.buf) - 1)
}

// push adds e, dropping the oldest beyond n entries.
func (r *ring) push(e entry, n int) {
	r.resize(n)
	if len(r.buf) < n {
		if len(r.buf) == cap(r.buf) { // grow by hand: append could overshoot the cap
			nb := make([]entry, len(r.buf), min(n, max(4, 2*cap(r.buf))))
			copy(nb, r.buf)
			r.buf = nb
		}
		r.buf = append(r.buf, e)
		return
	}
	r.buf[r.first] = e
	r.first = (r.first + 1) % len(r.buf)
}

// resize keeps the newest n entries when the cap was lowered.
func (r *ring) resize(n int) {
	if cap(r.buf) <= n {
		return
	}
	keep := min(n, len(r.buf))
	nb := make([]entry, keep, n)
	for i := range keep {
		nb[i] = *r.at(len(r.buf) - keep + i)
	}
	r.buf, r.first = nb, 0
}

func (r *ring) bytes() int64 {
	b := int64(cap(r.buf)) * entrySize
	for i := range r.buf {
		b += int64(len(r.buf[i].id))
	}
	return b
}

// streak is a probe's current run of skipped ticks.
type streak struct {
	first, last time.Time
	count       int
	reasons     []reasonCount // in order of first appearance
}

type reasonCount struct {
	reason string
	n      int
}

func (s *streak) add(reason string) (newReason bool) {
	s.count++
	for i := range s.reasons {
		if s.reasons[i].reason == reason {
			s.reasons[i].n++
			return false
		}
	}
	s.reasons = append(s.reasons, reasonCount{reason, 1})
	return true
}

// history is one probe's memory.
type history struct {
	recent  ring // runs and skip streaks
	bad     ring // failures and errors
	last    entry
	hasRun  bool
	detail  string // the newest run's detail, cleaned and cut short
	streak  *streak
	traces  []*trace // oldest first
	lastBad [2]string
	bytes   int64 // accounted in store.used
}

// maxDetail bounds the newest run's detail kept for the overview; the whole
// text is in the trace and the evidence.
const maxDetail = 1024

// trace is a kept full run.
type trace struct {
	run       *verdict.Run
	h         *history
	size      int64
	seq       uint64
	protected bool // the probe's last failure or last error
	index     int  // in its heap
}

// traceHeap orders traces oldest first.
type traceHeap []*trace

func (h traceHeap) Len() int           { return len(h) }
func (h traceHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h traceHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *traceHeap) Push(x any)        { t := x.(*trace); t.index = len(*h); *h = append(*h, t) }
func (h *traceHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return t
}

// store is every probe's history, under the page's lock.
type store struct {
	budget                    int64
	keep, keepBad, keepTraces int

	hist    map[string]*history // probe id → history
	byID    map[string]*trace
	pools   [2]traceHeap // [0] kept for being recent, [1] protected
	used    int64        // bytes of every history and trace
	seq     uint64
	evicted uint64 // traces dropped for the budget
}

func newStore(budget int64, keep, keepBad, keepTraces int) *store {
	return &store{budget: budget, keep: keep, keepBad: keepBad, keepTraces: keepTraces,
		hist: map[string]*history{}, byID: map[string]*trace{}}
}

// historyOverhead is a history's fixed cost: the struct, its map slot and key.
const historyOverhead = int64(unsafe.Sizeof(history{})) + 64

func (s *store) history(id string) *history {
	h := s.hist[id]
	if h == nil {
		h = &history{}
		s.hist[id] = h
		s.account(id, h)
	}
	return h
}

// account updates the bytes of h's summaries.
func (s *store) account(id string, h *history) {
	b := historyOverhead + int64(len(id)) + h.recent.bytes() + h.bad.bytes() + int64(len(h.last.id)) + int64(len(h.detail))
	if h.streak != nil {
		b += int64(unsafe.Sizeof(streak{})) + int64(cap(h.streak.reasons))*int64(unsafe.Sizeof(reasonCount{}))
	}
	b += int64(cap(h.traces)) * 8
	s.used += b - h.bytes
	h.bytes = b
}

// caps are the per-probe summary caps: the configured ones, lowered when
// the probes' summaries would take more than 3/4 of the budget.
func (s *store) caps() (keep, keepBad int) {
	per := entrySize + 32 // an entry and its run id
	room := s.budget * 3 / 4 / int64(max(1, len(s.hist))) / per
	if room >= int64(s.keep+s.keepBad) {
		return s.keep, s.keepBad
	}
	keep = max(2, int(room)*s.keep/(s.keep+s.keepBad))
	return keep, max(1, int(room)-keep)
}

// record adds a finished run.
func (s *store) record(id string, r *verdict.Run) (ended *streak) {
	h := s.history(id)
	keep, keepBad := s.caps()
	e := runEntry(r)
	h.last, h.hasRun = e, true
	h.detail = cut(clean(r.Detail), maxDetail)
	h.recent.push(e, keep)
	if e.kind != kindPass {
		h.bad.push(e, keepBad)
	}
	ended, h.streak = h.streak, nil
	s.keepTrace(h, r, e.kind)
	s.account(id, h)
	s.fit()
	return ended
}

// skip adds a skipped tick; it returns the streak and whether the skip
// began it or brought a reason new to it.
func (s *store) skip(id, reason string, at time.Time) (st *streak, news bool) {
	h := s.history(id)
	keep, _ := s.caps()
	if h.streak == nil {
		h.streak = &streak{first: at}
	}
	news = h.streak.add(reason)
	h.streak.last = at
	r := reasons.id(reason)
	if n := h.recent.newest(); n != nil && n.kind == kindSkipped && n.reason == r {
		n.count++
		n.end = at.UnixNano()
	} else {
		h.recent.push(entry{start: at.UnixNano(), end: at.UnixNano(), prop: float32(math.NaN()), count: 1, kind: kindSkipped, reason: r}, keep)
	}
	s.account(id, h)
	s.fit()
	return h.streak, news
}

// keepTrace keeps r's full trace: among the probe's latest keepTraces, and
// as its last failure or last error until a newer one replaces it.
func (s *store) keepTrace(h *history, r *verdict.Run, k kind) {
	s.seq++
	t := &trace{run: r, h: h, size: runSize(r), seq: s.seq}
	if k == kindFail || k == kindError {
		slot := 0
		if k == kindError {
			slot = 1
		}
		if old := s.byID[h.lastBad[slot]]; old != nil && old.h == h {
			s.unprotect(old)
		}
		h.lastBad[slot], t.protected = r.ID, true
	}
	h.traces = append(h.traces, t)
	s.byID[r.ID] = t
	heap.Push(&s.pools[poolOf(t)], t)
	s.used += t.size
	// The latest keepTraces stay, and the protected ones.
	for i := len(h.traces) - 1 - s.keepTraces; i >= 0; i-- {
		if old := h.traces[i]; !old.protected {
			s.drop(old)
		}
	}
}

func poolOf(t *trace) int {
	if t.protected {
		return 1
	}
	return 0
}

func (s *store) unprotect(t *trace) {
	heap.Remove(&s.pools[1], t.index)
	t.protected = false
	heap.Push(&s.pools[0], t)
}

// drop forgets a trace (its summary stays).
func (s *store) drop(t *trace) {
	heap.Remove(&s.pools[poolOf(t)], t.index)
	if s.byID[t.run.ID] == t {
		delete(s.byID, t.run.ID)
	}
	if i := slices.Index(t.h.traces, t); i >= 0 {
		t.h.traces = slices.Delete(t.h.traces, i, i+1)
	}
	s.used -= t.size
}

// fit drops the oldest traces until the store is within its budget: first
// those kept for being recent, then the last failures and errors.
func (s *store) fit() {
	for s.used > s.budget {
		pool := &s.pools[0]
		if pool.Len() == 0 {
			pool = &s.pools[1]
		}
		if pool.Len() == 0 {
			return // summaries alone: their caps keep them near 3/4 of the budget
		}
		s.drop((*pool)[0])
		s.evicted++
	}
}

// forget drops the histories of the probes not in keep (removed by a
// reload), traces and all.
func (s *store) forget(keep map[string]bool) {
	for id, h := range s.hist {
		if keep[id] {
			continue
		}
		for len(h.traces) > 0 {
			s.drop(h.traces[0])
		}
		s.used -= h.bytes
		delete(s.hist, id)
	}
}

// find looks a run up: its trace if kept, else its summary.
func (s *store) find(runID string) (tr *verdict.Run, probeID string, e entry, ok bool) {
	if t := s.byID[runID]; t != nil {
		return t.run, "", entry{}, true
	}
	for pid, h := range s.hist {
		for _, r := range []*ring{&h.recent, &h.bad} {
			for i := range r.len() {
				if x := r.at(i); x.kind != kindSkipped && x.id == runID {
					return nil, pid, *x, true
				}
			}
		}
		if h.hasRun && h.last.id == runID {
			return nil, pid, h.last, true
		}
	}
	return nil, "", entry{}, false
}

// cut shortens s to at most n bytes, on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
