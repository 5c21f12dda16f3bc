package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/verdict"
)

// Log is an open evidence log. It is safe for concurrent use and
// implements schedule.Recorder.
//
// One writer per file: Open takes an exclusive flock(2) on the active
// file and fails, naming the holder when it can be told, if another
// process (or another Log in this one) holds it. Two writers would fork
// the chain.
//
// Durability: each record is written with one write(2) of the whole line
// to an O_APPEND file and fsync'd before Record returns; a rotation
// fsyncs the directory. A crash therefore loses at most the record being
// written, which Open finds as a torn last line: it cuts off the bytes
// that do not form a verifying record (a complete record that only lacks
// its "\n" is kept and the "\n" added) and appends a notice record saying
// how many bytes were cut, so the repair is visible in the chain.
//
// Rotation: the active file is always cfg.Path. When it rotates (its size
// would pass RotateBytes, or the UTC day of the new record differs from the
// day of the file's first record with RotateDaily), it gets the name
// cfg.Path + "." + the seq of its first record in 12 digits
// (evidence.jsonl.000000000001) and a new, empty cfg.Path replaces it. The
// rotated name is a hard link made before an empty file is renamed over
// cfg.Path, so cfg.Path never goes missing, even in a crash: a missing
// active file next to rotated ones means it was deleted or moved, and Open
// records a notice. The chain does not restart: the first record of the
// new file has the next seq and the last hash of the rotated file as its
// prev_hash.
type Log struct {
	path    string
	cfg     config.Evidence
	replica string
	key     ed25519.PrivateKey
	log     *slog.Logger
	now     func() time.Time

	mu        sync.Mutex
	f         *os.File
	out       activeFile                // f, as append writes it (wrapped by tests)
	wrap      func(*os.File) activeFile // nil: f itself
	created   bool                      // Open created the active file
	size      int64
	firstSeq  uint64 // seq of the active file's first record; 0 while it is empty
	fileDay   string // UTC day (2006-01-02) of the active file's first record
	seq       uint64 // seq of the last record written
	last      string // hash of the last record written
	closed    bool
	obs       Observer
	notices   []*Record // written by Open
	written   atomic.Int64
	failed    atomic.Int64
	lastError atomic.Value // string
	sched     atomic.Pointer[Schedule]
	// The state of a disk that refuses records (full, read-only): while
	// failing, each refused record is counted in lost; the first record
	// written afterwards is a records_lost notice saying how many. dirty:
	// a partly written line could not be cut yet, so nothing may be
	// appended behind it.
	failing   bool
	dirty     bool
	lost      int64
	lostFirst time.Time
	lostLast  time.Time
	lostErr   string
}

// activeFile is what writing a record needs of the active file. Tests
// wrap the *os.File to inject disk faults (ENOSPC, EROFS, short writes)
// without filling a real disk.
type activeFile interface {
	Write([]byte) (int, error)
	Sync() error
	Truncate(size int64) error
}

// setActive makes f the active file.
func (l *Log) setActive(f *os.File) {
	l.f, l.out = f, activeFile(f)
	if l.wrap != nil {
		l.out = l.wrap(f)
	}
}

// Observer sees the chain's head, the write errors and whether the disk
// takes records (the metrics revprober_evidence_last_seq,
// revprober_evidence_write_errors_total and revprober_evidence_writable).
type Observer interface {
	EvidenceHead(seq uint64)
	EvidenceWriteError()
	EvidenceWritable(ok bool)
}

// ProbeKey names a probe (target × endpoint).
type ProbeKey struct{ Target, Endpoint string }

// Schedule is what the log writes into a run record's envelope besides
// the run: the probe's configured interval, so a report can tell a gap
// from the schedule, and the propagation SLO in force (global.slo), so a
// report judges each run against the objective configured at the time.
type Schedule struct {
	SLO       time.Duration
	Intervals map[ProbeKey]time.Duration
}

// LockedError is returned by Open when another writer holds the file.
type LockedError struct {
	File   string
	Holder string // "pid 42 (revprober)", or "" when unknown
}

func (e *LockedError) Error() string {
	h := e.Holder
	if h == "" {
		h = "another process (unknown pid)"
	}
	return fmt.Sprintf("evidence: %s is locked by another writer, %s: two writers would fork the hash chain; stop the other one, or give each replica its own evidence.path", e.File, h)
}

// rotatedSuffix matches the suffix of a rotated file's name.
var rotatedSuffix = regexp.MustCompile(`^\.(\d{12,})$`)

// RotatedName is the name a file whose first record has seq first gets
// when it rotates.
func RotatedName(path string, first uint64) string {
	return fmt.Sprintf("%s.%012d", path, first)
}

// nextName is where a rotation prepares the new active file: a hidden
// name in the same directory that an evidence.jsonl* glob does not match.
func nextName(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".next")
}

// Open opens (or creates) the evidence log of cfg and resumes its chain.
// A torn last line (a crash in the middle of a write) is logged, cut off
// and recorded as a notice; no complete record is lost. replica names
// this process in every record.
func Open(cfg config.Evidence, replica string) (*Log, error) {
	return OpenLogger(cfg, replica, slog.Default())
}

// OpenLogger is Open with a logger for repairs and write errors.
func OpenLogger(cfg config.Evidence, replica string, logger *slog.Logger) (*Log, error) {
	if cfg.Path == "" {
		return nil, errors.New("evidence: no path configured")
	}
	if logger == nil {
		logger = slog.Default()
	}
	l := &Log{path: cfg.Path, cfg: cfg, replica: replica, log: logger, now: time.Now}
	if cfg.SigningKeyFile != "" {
		k, err := LoadPrivateKey(cfg.SigningKeyFile)
		if err != nil {
			return nil, fmt.Errorf("evidence: %w", err)
		}
		l.key = k
	}
	if dir := filepath.Dir(cfg.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("evidence: %w", err)
		}
	}
	if err := l.openLocked(); err != nil {
		return nil, err
	}
	if err := l.resume(); err != nil {
		if l.created && l.size == 0 && len(l.notices) == 0 {
			// Leave no empty active file behind: it would hide, at the
			// next start, that the active file was missing.
			_ = os.Remove(l.path)
		}
		l.f.Close()
		return nil, err
	}
	return l, nil
}

// openLocked opens (creating it if need be) and locks the active file.
// Between the open and the lock a writer may rotate the file away; then
// the handle is not cfg.Path any more and the open is retried.
func (l *Log) openLocked() error {
	for range 10 {
		created := false
		f, err := os.OpenFile(l.path, os.O_RDWR|os.O_APPEND, 0)
		if errors.Is(err, fs.ErrNotExist) {
			f, err = os.OpenFile(l.path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o640)
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			created = true
		}
		if err != nil {
			return fmt.Errorf("evidence: %w", err)
		}
		if err := l.lock(f); err != nil {
			f.Close()
			return err
		}
		fst, err1 := f.Stat()
		pst, err2 := os.Stat(l.path)
		if err1 != nil || err2 != nil || !os.SameFile(fst, pst) {
			f.Close()
			continue
		}
		l.setActive(f)
		l.created = created
		return nil
	}
	return fmt.Errorf("evidence: %s keeps being replaced while it is opened (another writer rotating it?)", l.path)
}

// errLockUnsupported: the file system cannot flock (some network file
// systems). The log is then written unlocked, with a warning.
var errLockUnsupported = errors.New("evidence: the file system does not support flock")

// lock takes the writer's lock on f; where the file system cannot lock,
// it warns and goes on (a prober that does not start is worse than an
// undetected second writer, which verify still finds as a forked chain).
func (l *Log) lock(f *os.File) error {
	err := lockFile(f)
	if errors.Is(err, errLockUnsupported) {
		l.log.Warn("evidence: cannot lock the file; a second writer would not be refused", "err", err)
		return nil
	}
	return err
}

// resume finishes an interrupted rotation, repairs a torn tail, finds the
// chain's head and records what it repaired as notices.
func (l *Log) resume() error {
	f := l.f
	_ = os.Remove(nextName(l.path)) // left by a crash in a rotation
	rotated, err := rotatedFiles(l.path)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	if n := len(rotated); n > 0 {
		// A crash after the hard link but before the new file was renamed
		// into place: the newest rotated name is the active file itself.
		rst, err1 := os.Stat(rotated[n-1])
		fst, err2 := f.Stat()
		if err1 == nil && err2 == nil && os.SameFile(rst, fst) {
			if err := os.Remove(rotated[n-1]); err != nil {
				return fmt.Errorf("evidence: undoing an interrupted rotation: %w", err)
			}
			syncDir(filepath.Dir(l.path))
			l.log.Info("evidence: undid a rotation interrupted by a crash", "file", rotated[n-1])
			rotated = rotated[:n-1]
		}
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	size := st.Size()
	complete := int64(0) // bytes up to and including the last "\n"
	if size > 0 {
		nl, err := lastNewline(f, size)
		if err != nil {
			return fmt.Errorf("evidence: reading %s: %w", l.path, err)
		}
		complete = nl + 1
	}
	// prev is the last complete record: the active file's, or the newest
	// rotated file's when the active file has none.
	var prev *Record
	prevFile := l.path
	if complete > 0 {
		last, err := readLastLine(f, complete)
		if err != nil {
			return fmt.Errorf("evidence: reading %s: %w", l.path, err)
		}
		if prev, err = decode(last); err != nil {
			return fmt.Errorf("evidence: the last record of %s cannot continue the chain (run `revprober evidence verify %s`): %v", l.path, l.path, err)
		}
	} else if len(rotated) > 0 {
		prevFile = rotated[len(rotated)-1]
		if prev, err = lastRecord(prevFile); err != nil {
			return err
		}
	}
	var notices []Notice
	if tail := size - complete; tail > 0 {
		buf := make([]byte, tail)
		if _, err := f.ReadAt(buf, complete); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("evidence: reading %s: %w", l.path, err)
		}
		if rec, err := decode(buf); err == nil && links(prev, rec) {
			// A complete record that only lacks its end of line.
			if _, err := l.out.Write([]byte("\n")); err != nil {
				return fmt.Errorf("evidence: repairing %s: %w", l.path, err)
			}
			l.log.Warn("evidence: the last record lacked only its end of line; kept it and added the end of line",
				"file", l.path, "seq", rec.Seq)
			prev, prevFile, complete = rec, l.path, size+1
		} else {
			l.log.Warn("evidence: the last record was torn (a crash during a write); cutting it off",
				"file", l.path, "kept_bytes", complete, "cut_bytes", tail)
			if err := f.Truncate(complete); err != nil {
				return fmt.Errorf("evidence: repairing %s: %w", l.path, err)
			}
			notices = append(notices, Notice{Event: NoticeTornTail, File: l.path, CutBytes: tail, AfterSeq: seqOf(prev),
				Message: fmt.Sprintf("torn tail of %d bytes cut from %s: a record being written after seq %d was incomplete (a crash during a write) and was removed; no complete record was lost", tail, l.path, seqOf(prev))})
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("evidence: repairing %s: %w", l.path, err)
		}
	}
	l.size = complete
	if complete > 0 {
		first, err := readFirstLine(f)
		if err != nil {
			return fmt.Errorf("evidence: reading %s: %w", l.path, err)
		}
		var fr Record
		if err := json.Unmarshal(first, &fr); err != nil {
			return fmt.Errorf("evidence: %s:1: the first record is not valid (run `revprober evidence verify %s`): %v", l.path, l.path, err)
		}
		l.firstSeq, l.fileDay = fr.Seq, fr.Time.UTC().Format(time.DateOnly)
	}
	if prev != nil {
		l.seq, l.last = prev.Seq, prev.Hash
	}
	if l.created && len(rotated) > 0 {
		notices = append(notices, Notice{Event: NoticeActiveMissing, File: l.path, AfterSeq: l.seq,
			Message: fmt.Sprintf("active file %s was missing while rotated files remain: the chain resumes after seq %d, the last record of %s; any records written after it were deleted with the file", l.path, l.seq, prevFile)})
	}
	for _, n := range notices {
		l.log.Warn("evidence: recording a notice in the chain", "event", n.Event, "message", n.Message)
		rec, err := l.appendNotice(n)
		if err != nil {
			return err
		}
		l.notices = append(l.notices, rec)
	}
	return nil
}

func seqOf(r *Record) uint64 {
	if r == nil {
		return 0
	}
	return r.Seq
}

// links reports whether rec continues the chain after prev (nil: rec is
// the genesis record).
func links(prev, rec *Record) bool {
	if prev == nil {
		return rec.Seq == 1 && rec.PrevHash == ""
	}
	return rec.Seq == prev.Seq+1 && rec.PrevHash == prev.Hash
}

// lastRecord reads the last record of a rotated file (nil for an empty
// file).
func lastRecord(name string) (*Record, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	if st.Size() == 0 {
		return nil, nil
	}
	last, err := readLastLine(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("evidence: reading %s: %w", name, err)
	}
	rec, err := decode(last)
	if err != nil {
		return nil, fmt.Errorf("evidence: the last record of %s cannot continue the chain: %v", name, err)
	}
	return rec, nil
}

// rotatedFiles lists path's rotated files, oldest first.
func rotatedFiles(path string) ([]string, error) {
	matches, err := filepath.Glob(globEscape(path) + ".*")
	if err != nil {
		return nil, err
	}
	type rf struct {
		name string
		seq  uint64
	}
	var out []rf
	for _, m := range matches {
		sm := rotatedSuffix.FindStringSubmatch(m[len(path):])
		if sm == nil {
			continue
		}
		n, err := strconv.ParseUint(sm[1], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, rf{m, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	names := make([]string, len(out))
	for i, r := range out {
		names[i] = r.name
	}
	return names, nil
}

func globEscape(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '*', '?', '[', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Record appends a run (schedule.Recorder). It never panics; errors are
// counted (Stats, Observer) and logged once per change of state (the disk
// stops taking records, takes them again), not once per record: a full
// disk must not flood the log of a prober that goes on probing.
func (l *Log) Record(run *verdict.Run) {
	defer func() {
		if v := recover(); v != nil {
			l.fail(fmt.Errorf("panic while recording: %v", v), run)
		}
	}()
	if _, err := l.Append(run); err != nil {
		l.fail(err, run)
	}
}

func (l *Log) fail(err error, run *verdict.Run) {
	l.failed.Add(1)
	l.lastError.Store(err.Error())
	if !errors.As(err, new(*refusedError)) {
		// Not the disk (the state change logs that): a closed log, a
		// nil run, a panic.
		id := ""
		if run != nil {
			id = run.ID
		}
		l.log.Error("evidence: record not written", "file", l.path, "run_id", id, "err", err)
	}
	l.mu.Lock()
	obs := l.obs
	l.mu.Unlock()
	if obs != nil {
		obs.EvidenceWriteError()
	}
}

// SetSchedule sets what the next run records say about the probe's
// interval and the SLO (at every config load).
func (l *Log) SetSchedule(s Schedule) { l.sched.Store(&s) }

// SetObserver reports the head now and after every record, every write
// error and every change of writability, to o.
func (l *Log) SetObserver(o Observer) {
	l.mu.Lock()
	l.obs = o
	seq, failing := l.seq, l.failing
	l.mu.Unlock()
	o.EvidenceHead(seq)
	o.EvidenceWritable(!failing)
}

// Notices are the notice records Open wrote (repairs it made).
func (l *Log) Notices() []*Record { return l.notices }

// Append writes one record for run and returns it.
func (l *Log) Append(run *verdict.Run) (*Record, error) {
	if run == nil {
		return nil, errors.New("evidence: nil run")
	}
	b := body{Run: run, ConfigDigest: run.ConfigDigest}
	if s := l.sched.Load(); s != nil {
		b.Interval, b.SLO = s.Intervals[ProbeKey{run.Target, run.Endpoint}], s.SLO
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.append(b)
}

func (l *Log) appendNotice(n Notice) (*Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.append(body{Kind: KindNotice, Notice: &n})
}

// writeLine is the single write(2) of a record's line. Tests replace it
// to tear a record in the middle.
var writeLine = func(f activeFile, line []byte) (int, error) { return f.Write(line) }

// append writes b, first the records_lost notice of the records the disk
// refused since the last one written. A record that cannot be written is
// counted as lost and the log goes into the failing state (logged and
// observed once, at the change). l.mu is held.
func (l *Log) append(b body) (*Record, error) {
	if l.closed {
		return nil, errors.New("evidence: log closed")
	}
	rec, err := l.appendLost()
	if err == nil {
		rec, err = l.write(b)
	}
	if err != nil {
		now := l.now().UTC()
		if l.lost == 0 {
			l.lostFirst, l.lostErr = now, err.Error()
		}
		l.lost++
		l.lostLast = now
		if !l.failing {
			l.failing = true
			l.log.Error("evidence: the disk refuses records; probing goes on, and the records not written are counted and noted in the chain once a write succeeds (revprober_evidence_writable 0)",
				"file", l.path, "err", err)
			if l.obs != nil {
				l.obs.EvidenceWritable(false)
			}
		}
		return nil, &refusedError{err}
	}
	return rec, nil
}

// refusedError is a write the disk refused, logged at the change of state
// rather than per record.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// appendLost writes the records_lost notice, if records were lost, and
// leaves the failing state. l.mu is held.
func (l *Log) appendLost() (*Record, error) {
	if l.lost == 0 {
		return nil, nil
	}
	n := Notice{Event: NoticeRecordsLost, File: l.path, Lost: l.lost, AfterSeq: l.seq,
		Message: fmt.Sprintf("%d records could not be written between %s and %s and are not in the chain (first error: %s); the chain goes on after seq %d",
			l.lost, l.lostFirst.Format(time.RFC3339), l.lostLast.Format(time.RFC3339), l.lostErr, l.seq)}
	rec, err := l.write(body{Kind: KindNotice, Notice: &n})
	if err != nil {
		return nil, err
	}
	l.log.Warn("evidence: the disk takes records again; recorded a records_lost notice in the chain",
		"file", l.path, "lost", l.lost, "seq", rec.Seq)
	l.lost = 0
	l.failing = false
	if l.obs != nil {
		l.obs.EvidenceWritable(true)
	}
	return rec, nil
}

// write fills in the chain members of b and writes it; l.mu is held.
// Either the whole line is written and synced, or the file is cut back to
// where it was (or, if even that fails, marked dirty and cut before the
// next write): no torn record stays between two records, and the chain
// only advances past a record that is on disk.
func (l *Log) write(b body) (*Record, error) {
	if l.dirty {
		if err := l.out.Truncate(l.size); err != nil {
			return nil, fmt.Errorf("evidence: cutting a partly written record from %s: %w", l.path, err)
		}
		l.dirty = false
	}
	now := l.now().UTC()
	b.Seq, b.Time, b.Replica, b.PrevHash = l.seq+1, now, l.replica, l.last
	line, hash, err := encode(b, l.key)
	if err != nil {
		return nil, err
	}
	if l.shouldRotate(now, len(line)) {
		if err := l.rotate(); err != nil {
			// Keep writing to the current file: a missed rotation is
			// better than a missing record.
			l.log.Error("evidence: rotation failed; still writing to the current file", "file", l.path, "err", err)
		}
	}
	if n, err := writeLine(l.out, line); err != nil {
		if n > 0 {
			l.rollback()
		}
		return nil, fmt.Errorf("evidence: writing %s: %w", l.path, err)
	}
	if err := l.out.Sync(); err != nil {
		l.rollback()
		return nil, fmt.Errorf("evidence: syncing %s: %w", l.path, err)
	}
	l.size += int64(len(line))
	if l.firstSeq == 0 {
		l.firstSeq, l.fileDay = b.Seq, now.Format(time.DateOnly)
	}
	l.seq, l.last = b.Seq, hash
	l.written.Add(1)
	if l.obs != nil {
		l.obs.EvidenceHead(l.seq)
	}
	rec := &Record{Seq: b.Seq, Time: now, Replica: b.Replica, Kind: b.Kind, Run: b.Run, Notice: b.Notice, Interval: b.Interval, SLO: b.SLO,
		ConfigDigest: b.ConfigDigest, PrevHash: b.PrevHash, Hash: hash}
	return rec, nil
}

// rollback cuts a partly written line so the next record starts on a
// clean line. Where the file refuses even that (read-only), the log is
// dirty: the next write cuts it first, and writes nothing until it can.
func (l *Log) rollback() {
	if err := l.out.Truncate(l.size); err != nil {
		l.dirty = true
	}
}

func (l *Log) shouldRotate(now time.Time, n int) bool {
	if l.size == 0 || l.firstSeq == 0 {
		return false
	}
	if l.cfg.RotateBytes > 0 && l.size+int64(n) > l.cfg.RotateBytes {
		return true
	}
	return l.cfg.RotateDaily && now.Format(time.DateOnly) != l.fileDay
}

// rotate gives the active file its rotated name and starts an empty one.
// The new file is prepared (and locked) under a hidden name, the rotated
// name is made a hard link to the active file, then the new file is
// renamed over the active name: at every instant the active name exists.
// Where hard links are not supported the active file is renamed instead,
// which leaves a short window in which a crash loses the active name
// (Open then records an active_missing notice).
func (l *Log) rotate() error {
	to := RotatedName(l.path, l.firstSeq)
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("%s already exists", to)
	}
	if err := l.f.Sync(); err != nil {
		return err
	}
	next := nextName(l.path)
	_ = os.Remove(next)
	f, err := os.OpenFile(next, os.O_RDWR|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	abort := func(err error) error {
		f.Close()
		_ = os.Remove(next)
		return err
	}
	if err := l.lock(f); err != nil {
		return abort(err)
	}
	if err := os.Link(l.path, to); err != nil {
		// No hard links here: rename, then put the new file in place.
		if err := os.Rename(l.path, to); err != nil {
			return abort(err)
		}
	}
	if err := os.Rename(next, l.path); err != nil {
		if _, serr := os.Stat(l.path); serr == nil {
			_ = os.Remove(to) // the link: the active file keeps its records
		} else if rerr := os.Rename(to, l.path); rerr != nil {
			l.log.Error("evidence: cannot undo a failed rotation", "file", to, "err", rerr)
		}
		return abort(err)
	}
	syncDir(filepath.Dir(l.path))
	// From here on the old handle points at the rotated file; closing it
	// releases its lock.
	l.f.Close()
	l.setActive(f)
	l.size, l.firstSeq, l.fileDay = 0, 0, ""
	l.log.Info("evidence: rotated", "file", to, "next_seq", l.seq+1)
	return nil
}

func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}

// Stats are the log's counters.
type Stats struct {
	Written   int64  // records (runs and notices) written since Open
	Failed    int64  // records that could not be written
	LastError string // the last write error, if any
	Seq       uint64 // seq of the last record
	Hash      string // hash of the last record (the chain's head)
}

// Stats returns the counters and the chain's head.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	seq, h := l.seq, l.last
	l.mu.Unlock()
	e, _ := l.lastError.Load().(string)
	return Stats{Written: l.written.Load(), Failed: l.failed.Load(), LastError: e, Seq: seq, Hash: h}
}

// Path is the active file.
func (l *Log) Path() string { return l.path }

// Close writes the records_lost notice if records were lost and the disk
// takes it now, syncs and closes the file; later records are refused (and
// counted).
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	if _, err := l.appendLost(); err != nil {
		l.log.Error("evidence: closing with records lost that the chain does not note (the disk still refuses records)",
			"file", l.path, "lost", l.lost, "err", err)
	}
	l.closed = true
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// lastNewline returns the offset of the last '\n' before end, or -1.
func lastNewline(f io.ReaderAt, end int64) (int64, error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	for end > 0 {
		start := max(0, end-chunk)
		n := end - start
		if _, err := f.ReadAt(buf[:n], start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i), nil
		}
		end = start
	}
	return -1, nil
}

// readLastLine returns the last line (without "\n") of a file of size
// bytes that ends in "\n".
func readLastLine(f io.ReaderAt, size int64) ([]byte, error) {
	prev, err := lastNewline(f, size-1)
	if err != nil {
		return nil, err
	}
	start := prev + 1
	line := make([]byte, size-1-start)
	if _, err := f.ReadAt(line, start); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return line, nil
}

// readFirstLine returns the first line (without "\n").
func readFirstLine(f io.ReaderAt) ([]byte, error) {
	var out []byte
	buf := make([]byte, 64<<10)
	var off int64
	for {
		n, err := f.ReadAt(buf, off)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return append(out, buf[:i]...), nil
		}
		out = append(out, buf[:n]...)
		off += int64(n)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
	}
}
