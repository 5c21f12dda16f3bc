package httpx

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"unsafe"

	"github.com/revprober/revprober/internal/verdict"
)

// readAll reads what io.ReadAll with a LimitReader would, whatever length
// is announced (right, short, long, unknown, over preallocMax), also from
// a reader that returns a byte at a time.
func TestReadAllAnnouncedLength(t *testing.T) {
	body := strings.Repeat("x", 1000)
	for _, c := range []struct {
		name          string
		length, limit int64
		want          int
	}{
		{"exact", 1000, MaxBody + 1, 1000},
		{"unknown", -1, MaxBody + 1, 1000},
		{"announced short", 10, MaxBody + 1, 1000},
		{"announced long", 5000, MaxBody + 1, 1000},
		{"announced over the prealloc bound", preallocMax + 1, MaxBody + 1, 1000},
		{"limit below the body", 1000, 100, 100},
		{"limit below the body, unknown length", -1, 100, 100},
		{"empty", 0, MaxBody + 1, 1000},
	} {
		for _, slow := range []bool{false, true} {
			r := strings.NewReader(body)
			got, err := readAll(iotestReader(r, slow), c.length, c.limit)
			if err != nil || len(got) != c.want || !bytes.Equal(got, []byte(body[:c.want])) {
				t.Errorf("%s (slow %v): %d bytes, %v; want %d", c.name, slow, len(got), err, c.want)
			}
		}
	}
}

func iotestReader(r *strings.Reader, slow bool) io.Reader {
	if slow {
		return iotest.OneByteReader(r)
	}
	return r
}

// A body of known length costs one allocation, not io.ReadAll's doublings.
func TestReadAllKnownLengthAllocatesOnce(t *testing.T) {
	body := strings.Repeat("x", 3000)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := readAll(strings.NewReader(body), int64(len(body)), MaxBody+1); err != nil {
			t.Fatal(err)
		}
	})
	// The strings.Reader made here, the LimitReader and the buffer
	// (io.ReadAll: 4 growths of its buffer besides).
	if allocs > 3 {
		t.Errorf("%v allocations per read of a 3,000-byte body of known length, want at most 3", allocs)
	}
}

// The trace records of two runs that ask the same URL share its bytes;
// past maxInterned distinct URLs, a URL is kept as made.
func TestTraceURLsShared(t *testing.T) {
	a := SharedURL(strings.Clone("https://idp.example/oauth/token-shared-test"))
	b := SharedURL(strings.Clone("https://idp.example/oauth/token-shared-test"))
	if a != b || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatal("the same URL made twice is not shared")
	}
	for i := 0; len(interned.urls) < maxInterned; i++ {
		SharedURL("https://idp.example/fill/" + strconv.Itoa(i))
	}
	c := "https://idp.example/past-the-bound"
	if got := SharedURL(c); got != c || len(interned.urls) > maxInterned {
		t.Fatalf("past the bound: %q, %d interned", got, len(interned.urls))
	}
}

// A trace sized by its estimate hands its records over without a copy; one
// with much spare room hands over a copy of their size; a record made after
// the hand-over does not reach the records handed over.
func TestTakeRequests(t *testing.T) {
	tr := NewTrace(3)
	for range 3 {
		tr.add(verdict.Request{Method: "GET"})
	}
	got := tr.TakeRequests()
	if len(got) != 3 || cap(got) != 3 {
		t.Fatalf("len %d cap %d, want 3 3", len(got), cap(got))
	}
	tr.add(verdict.Request{Method: "POST"})
	if len(got) != 3 || got[2].Method != "GET" {
		t.Fatalf("the records handed over changed: %+v", got)
	}
	if again := tr.TakeRequests(); len(again) != 1 || again[0].Method != "POST" {
		t.Fatalf("after the hand-over: %+v", again)
	}
	tr = NewTrace(40)
	tr.add(verdict.Request{})
	if got := tr.TakeRequests(); len(got) != 1 || cap(got) > 8 {
		t.Fatalf("an overestimate keeps its room: len %d cap %d", len(got), cap(got))
	}
}
