package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// Durability: each record is written with one write(2) of the whole line
// (an O_APPEND file, so concurrent writers could not interleave inside a
// line) and fsync'd before Record returns; a rotation fsyncs the directory
// after the rename and after creating the new file. A crash therefore
// loses at most the record being written, which Open finds as a torn last
// line and truncates.
//
// Rotation: the active file is always cfg.Path. When it rotates (its size
// would pass RotateBytes, or the UTC day of the new record differs from the
// day of the file's first record with RotateDaily), it is renamed to
// cfg.Path + "." + the seq of its first record in 12 digits
// (evidence.jsonl.000000000001) and a new cfg.Path is started. The chain
// does not restart: the first record of the new file has the next seq and
// the last hash of the rotated file as its prev_hash.
type Log struct {
	path    string
	cfg     config.Evidence
	replica string
	key     ed25519.PrivateKey
	log     *slog.Logger
	now     func() time.Time

	mu        sync.Mutex
	f         *os.File
	size      int64
	firstSeq  uint64 // seq of the active file's first record; 0 while it is empty
	fileDay   string // UTC day (2006-01-02) of the active file's first record
	seq       uint64 // seq of the last record written
	last      string // hash of the last record written
	closed    bool
	written   atomic.Int64
	failed    atomic.Int64
	lastError atomic.Value // string
}

// rotatedSuffix matches the suffix of a rotated file's name.
var rotatedSuffix = regexp.MustCompile(`^\.(\d{12,})$`)

// RotatedName is the name a file whose first record has seq first gets
// when it rotates.
func RotatedName(path string, first uint64) string {
	return fmt.Sprintf("%s.%012d", path, first)
}

// Open opens (or creates) the evidence log of cfg and resumes its chain.
// A torn last line (a crash in the middle of a write) is logged and cut
// off; no complete record is lost. replica names this process in every
// record.
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
	if err := l.openActive(); err != nil {
		return nil, err
	}
	if l.seq == 0 {
		if err := l.resumeFromRotated(); err != nil {
			l.f.Close()
			return nil, err
		}
	}
	return l, nil
}

// openActive opens cfg.Path, repairs a torn tail and reads its first and
// last records.
func (l *Log) openActive() error {
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	l.f = f
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("evidence: %w", err)
	}
	size := st.Size()
	if size > 0 {
		nl, err := lastNewline(f, size)
		if err != nil {
			f.Close()
			return fmt.Errorf("evidence: reading %s: %w", l.path, err)
		}
		if nl != size-1 {
			keep := nl + 1
			l.log.Warn("evidence: the last record was torn (a crash during a write); cutting it off",
				"file", l.path, "kept_bytes", keep, "cut_bytes", size-keep)
			if err := f.Truncate(keep); err != nil {
				f.Close()
				return fmt.Errorf("evidence: repairing %s: %w", l.path, err)
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return fmt.Errorf("evidence: repairing %s: %w", l.path, err)
			}
			size = keep
		}
	}
	l.size = size
	if size == 0 {
		return nil
	}
	first, err := readFirstLine(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("evidence: reading %s: %w", l.path, err)
	}
	var fr Record
	if err := json.Unmarshal(first, &fr); err != nil {
		f.Close()
		return fmt.Errorf("evidence: %s:1: the first record is not valid (run `revprober evidence verify %s`): %v", l.path, l.path, err)
	}
	l.firstSeq, l.fileDay = fr.Seq, fr.Time.UTC().Format(time.DateOnly)
	last, err := readLastLine(f, size)
	if err != nil {
		f.Close()
		return fmt.Errorf("evidence: reading %s: %w", l.path, err)
	}
	rec, err := decode(last)
	if err != nil {
		f.Close()
		return fmt.Errorf("evidence: the last record of %s cannot continue the chain (run `revprober evidence verify %s`): %v", l.path, l.path, err)
	}
	l.seq, l.last = rec.Seq, rec.Hash
	return nil
}

// resumeFromRotated continues the chain from the newest rotated file when
// the active file is empty (fresh start, or a crash right after a rotation).
func (l *Log) resumeFromRotated() error {
	files, err := rotatedFiles(l.path)
	if err != nil || len(files) == 0 {
		return err
	}
	newest := files[len(files)-1]
	f, err := os.Open(newest)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	if st.Size() == 0 {
		return nil
	}
	last, err := readLastLine(f, st.Size())
	if err != nil {
		return fmt.Errorf("evidence: reading %s: %w", newest, err)
	}
	rec, err := decode(last)
	if err != nil {
		return fmt.Errorf("evidence: the last record of %s cannot continue the chain: %v", newest, err)
	}
	l.seq, l.last = rec.Seq, rec.Hash
	return nil
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
// logged and counted (Stats).
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
	id := ""
	if run != nil {
		id = run.ID
	}
	l.log.Error("evidence: record not written", "file", l.path, "run_id", id, "err", err)
}

// Append writes one record for run and returns it.
func (l *Log) Append(run *verdict.Run) (*Record, error) {
	if run == nil {
		return nil, errors.New("evidence: nil run")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("evidence: log closed")
	}
	now := l.now().UTC()
	b := body{Seq: l.seq + 1, Time: now, Replica: l.replica, Run: run, ConfigDigest: run.ConfigDigest, PrevHash: l.last}
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
	if _, err := l.f.Write(line); err != nil {
		l.rollback()
		return nil, fmt.Errorf("evidence: writing %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		l.rollback()
		return nil, fmt.Errorf("evidence: syncing %s: %w", l.path, err)
	}
	l.size += int64(len(line))
	if l.firstSeq == 0 {
		l.firstSeq, l.fileDay = b.Seq, now.Format(time.DateOnly)
	}
	l.seq, l.last = b.Seq, hash
	l.written.Add(1)
	rec := &Record{Seq: b.Seq, Time: now, Replica: b.Replica, Run: run, ConfigDigest: b.ConfigDigest, PrevHash: b.PrevHash, Hash: hash}
	return rec, nil
}

// rollback cuts a partly written line so the next record starts on a
// clean line (best effort: the file may be unwritable).
func (l *Log) rollback() {
	if err := l.f.Truncate(l.size); err != nil {
		l.log.Error("evidence: cannot cut a partly written record; Open will repair it at the next start", "file", l.path, "err", err)
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

func (l *Log) rotate() error {
	to := RotatedName(l.path, l.firstSeq)
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("%s already exists", to)
	}
	if err := l.f.Sync(); err != nil {
		return err
	}
	if err := os.Rename(l.path, to); err != nil {
		return err
	}
	// From here on the old handle points at the rotated file.
	old := l.f
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o640)
	if err != nil {
		// Undo the rename so records keep going to a file.
		if rerr := os.Rename(to, l.path); rerr != nil {
			l.log.Error("evidence: cannot undo a failed rotation; records go to the rotated file", "file", to, "err", rerr)
		}
		return err
	}
	old.Close()
	syncDir(filepath.Dir(l.path))
	l.f, l.size, l.firstSeq, l.fileDay = f, 0, 0, ""
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
	Written   int64  // records written since Open
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

// Close syncs and closes the file; later records are refused (and counted).
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
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
