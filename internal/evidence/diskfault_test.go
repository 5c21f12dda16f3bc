package evidence

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/revprober/revprober/internal/config"
)

// diskFault is what the fake disk does to the next writes.
type diskFault int

const (
	diskOK diskFault = iota
	// diskFull: write(2) fails with ENOSPC before writing anything.
	diskFull
	// diskFullShort: half the line reaches the file, then ENOSPC (a
	// short write), as write(2) does when the disk fills mid-record.
	diskFullShort
	// diskReadOnly: the file system was remounted read-only: writes and
	// truncation fail with EROFS.
	diskReadOnly
	// diskReadOnlyShort: half the line is written, then the file system
	// goes read-only, so the partial line cannot be cut either.
	diskReadOnlyShort
)

// faultyDisk wraps the active file and fails its writes as told.
type faultyDisk struct {
	mu    sync.Mutex
	fault diskFault
}

func (d *faultyDisk) set(f diskFault) {
	d.mu.Lock()
	d.fault = f
	d.mu.Unlock()
}

func (d *faultyDisk) get() diskFault {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fault
}

// inject makes l write through d (and every file it rotates to).
func (d *faultyDisk) inject(l *Log) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wrap = func(f *os.File) activeFile { return &faultyFile{f: f, d: d} }
	l.setActive(l.f)
}

type faultyFile struct {
	f *os.File
	d *faultyDisk
}

func (w *faultyFile) errno(op string, e syscall.Errno) error {
	return &fs.PathError{Op: op, Path: w.f.Name(), Err: e}
}

func (w *faultyFile) Write(b []byte) (int, error) {
	switch w.d.get() {
	case diskFull:
		return 0, w.errno("write", syscall.ENOSPC)
	case diskFullShort:
		n, _ := w.f.Write(b[:len(b)/2])
		return n, w.errno("write", syscall.ENOSPC)
	case diskReadOnly:
		return 0, w.errno("write", syscall.EROFS)
	case diskReadOnlyShort:
		n, _ := w.f.Write(b[:len(b)/2])
		w.d.set(diskReadOnly)
		return n, w.errno("write", syscall.EROFS)
	}
	return w.f.Write(b)
}

func (w *faultyFile) Sync() error {
	if w.d.get() == diskReadOnly {
		return w.errno("sync", syscall.EROFS)
	}
	return w.f.Sync()
}

func (w *faultyFile) Truncate(size int64) error {
	if w.d.get() == diskReadOnly {
		return w.errno("truncate", syscall.EROFS)
	}
	return w.f.Truncate(size)
}

// observed records what the metrics would export.
type observed struct {
	mu       sync.Mutex
	head     uint64
	errors   int
	writable []bool // every change reported
}

func (o *observed) EvidenceHead(seq uint64) { o.mu.Lock(); o.head = seq; o.mu.Unlock() }
func (o *observed) EvidenceWriteError()     { o.mu.Lock(); o.errors++; o.mu.Unlock() }
func (o *observed) EvidenceWritable(ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := len(o.writable); n == 0 || o.writable[n-1] != ok {
		o.writable = append(o.writable, ok)
	}
}

// TestEvidenceDiskFaults: the evidence disk fills up (ENOSPC, with a
// short write) and then goes read-only with a partial line it cannot
// cut. Every run is still taken (Record returns), the failure is counted
// and observed as unwritable, logged once when it starts and once when it
// ends, and once the disk takes writes again the chain verifies: no torn
// record, no duplicate, and a records_lost notice in the chain says how
// many records are missing and after which seq.
func TestEvidenceDiskFaults(t *testing.T) {
	path, l, disk, logs := openFaulty(t)
	obs := &observed{}
	l.SetObserver(obs)

	run := 0
	record := func(n int) {
		for range n {
			l.Record(fakeRun(run))
			run++
		}
	}
	record(3) // runs 0-2: seq 1-3
	sizeBefore := fileSize(t, path)

	disk.set(diskFull)
	record(1) // run 3: lost
	disk.set(diskFullShort)
	record(2) // runs 4, 5: lost, half lines cut again
	if got := fileSize(t, path); got != sizeBefore {
		t.Fatalf("after short writes on a full disk the file is %d bytes, want %d (the partial lines cut)", got, sizeBefore)
	}
	disk.set(diskReadOnlyShort)
	record(1) // run 6: half a line stays, the file cannot be cut
	if fileSize(t, path) == sizeBefore {
		t.Fatal("the fault did not leave a partial line (test broken)")
	}
	record(2) // runs 7, 8: refused, nothing written behind the partial line

	if st := l.Stats(); st.Failed != 6 || st.Seq != 3 {
		t.Fatalf("while failing: %d failed, head seq %d; want 6 failed, head 3", st.Failed, st.Seq)
	}
	obs.mu.Lock()
	if obs.errors != 6 || len(obs.writable) != 2 || obs.writable[1] {
		t.Errorf("observer while failing: %d errors, writable changes %v; want 6 errors, [true false]", obs.errors, obs.writable)
	}
	obs.mu.Unlock()

	disk.set(diskOK)
	record(2) // runs 9, 10: the notice first, then the runs
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	res, err := Verify([]string{path}, VerifyOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("chain after the disk came back does not verify: %+v", res.Problem)
	}
	var ids []string
	var lost []Notice
	if _, err := Verify([]string{path}, VerifyOptions{}, func(r *Record, _ Loc) {
		if r.Run != nil {
			ids = append(ids, r.Run.ID)
		}
		if r.Notice != nil {
			lost = append(lost, *r.Notice)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if want := "run-000 run-001 run-002 run-009 run-010"; strings.Join(ids, " ") != want {
		t.Errorf("runs in the chain: %v, want %s (each once, in order)", ids, want)
	}
	if len(lost) != 1 || lost[0].Event != NoticeRecordsLost || lost[0].Lost != 6 || lost[0].AfterSeq != 3 {
		t.Fatalf("notices %+v, want one records_lost of 6 after seq 3", lost)
	}
	if !strings.Contains(lost[0].Message, "no space left on device") {
		t.Errorf("records_lost message %q does not say why", lost[0].Message)
	}
	if res.LastSeq != 6 {
		t.Errorf("head seq %d, want 6 (3 runs, the notice, 2 runs)", res.LastSeq)
	}

	out := logs.String()
	if n := strings.Count(out, "the disk refuses records"); n != 1 {
		t.Errorf("%d log lines for the disk failing, want 1 (one per change of state):\n%s", n, out)
	}
	if n := strings.Count(out, "takes records again"); n != 1 {
		t.Errorf("%d log lines for the disk recovering, want 1:\n%s", n, out)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.writable) != 3 || !obs.writable[2] || obs.head != 6 {
		t.Errorf("observer after recovery: writable changes %v, head %d; want [true false true], 6", obs.writable, obs.head)
	}
}

// TestEvidenceLostNotedAtClose: a daemon stopped after the disk came back
// but before another run still leaves the records_lost notice in the
// chain; stopped while the disk still refuses, it says so in its log.
func TestEvidenceLostNotedAtClose(t *testing.T) {
	for _, back := range []bool{true, false} {
		path, l, disk, logs := openFaulty(t)
		l.Record(fakeRun(0))
		disk.set(diskFull)
		l.Record(fakeRun(1))
		if back {
			disk.set(diskOK)
		}
		if err := l.Close(); err != nil && back {
			t.Fatal(err)
		}
		var notices []Notice
		res, err := Verify([]string{path}, VerifyOptions{}, func(r *Record, _ Loc) {
			if r.Notice != nil {
				notices = append(notices, *r.Notice)
			}
		})
		if err != nil || !res.OK() {
			t.Fatalf("disk back %v: chain does not verify: %v %+v", back, err, res.Problem)
		}
		switch {
		case back && (len(notices) != 1 || notices[0].Lost != 1):
			t.Errorf("disk back at close: notices %+v, want one records_lost of 1", notices)
		case !back && (len(notices) != 0 || !strings.Contains(logs.String(), "records lost that the chain does not note")):
			t.Errorf("disk still full at close: notices %+v, log:\n%s", notices, logs.String())
		}
	}
}

// openFaulty opens a new log in a temporary directory, writing through a
// fake disk, with its log lines captured.
func openFaulty(t *testing.T) (string, *Log, *faultyDisk, *bytes.Buffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	lg, logs := quietLogger()
	l, err := OpenLogger(config.Evidence{Path: path}, "replica-a", lg)
	if err != nil {
		t.Fatal(err)
	}
	disk := &faultyDisk{}
	disk.inject(l)
	return path, l, disk, logs
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
