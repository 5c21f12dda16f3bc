package evidence

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// PublicKey, when set, requires every record to carry a valid signature.
	PublicKey ed25519.PublicKey
	// After is the hash of the record just before the first one given (from
	// an earlier, verified file). Empty: the first record must be the
	// genesis record (seq 1, prev_hash "").
	After string
}

// Problem is the first place where the evidence does not verify.
type Problem struct {
	File string `json:"file"`
	Line int    `json:"line"`
	// Seq is the seq of the record at fault: the one read at File:Line,
	// or, for a missing record, the seq that was expected there.
	Seq  uint64 `json:"seq"`
	Kind string `json:"kind"` // edited, removed, reordered, truncated, corrupt, broken_link, unsigned, bad_signature, genesis
	Msg  string `json:"message"`
}

func (p *Problem) Error() string {
	return fmt.Sprintf("%s:%d: seq %d: %s: %s", p.File, p.Line, p.Seq, p.Kind, p.Msg)
}

// Result is what Verify found.
type Result struct {
	Files    []string `json:"files"` // in chain order
	Records  int      `json:"records"`
	FirstSeq uint64   `json:"first_seq"`
	LastSeq  uint64   `json:"last_seq"`
	LastHash string   `json:"last_hash"` // the chain's head
	Signed   int      `json:"signed"`    // records carrying a signature
	// SigChecked says signatures were verified (a key was given).
	SigChecked bool   `json:"signatures_checked"`
	KeyID      string `json:"key_id,omitempty"`
	// Problem is the first problem; Problems counts them all (after the
	// first one the check resynchronises on the next readable record).
	Problem  *Problem `json:"problem,omitempty"`
	Problems int      `json:"problems"`
}

// OK reports whether everything verified.
func (r *Result) OK() bool { return r.Problem == nil }

// Loc says where a record was read.
type Loc struct {
	File string
	Line int
}

// OrderFiles sorts evidence files into chain order, by the seq of each
// file's first record, so a shell glob (which puts evidence.jsonl before
// evidence.jsonl.000000000001) can be passed as is. Arguments that are
// not existing files are expanded as glob patterns. Files whose first
// record cannot be read keep their place after the readable ones.
func OrderFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		if _, err := os.Stat(a); err == nil {
			files = append(files, a)
			continue
		}
		m, err := filepath.Glob(a)
		if err != nil || len(m) == 0 {
			return nil, fmt.Errorf("%s: no such file", a)
		}
		files = append(files, m...)
	}
	type of struct {
		name string
		seq  uint64
		ok   bool
	}
	seen := map[string]bool{}
	var list []of
	for _, f := range files {
		if seen[f] {
			continue
		}
		seen[f] = true
		o := of{name: f}
		if fh, err := os.Open(f); err == nil {
			if line, err := readFirstLine(fh); err == nil {
				var r struct {
					Seq *uint64 `json:"seq"`
				}
				if json.Unmarshal(line, &r) == nil && r.Seq != nil {
					o.seq, o.ok = *r.Seq, true
				}
			}
			fh.Close()
		}
		list = append(list, o)
	}
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].ok != list[j].ok {
			return list[i].ok
		}
		return list[i].ok && list[i].seq < list[j].seq
	})
	out := make([]string, len(list))
	for i, o := range list {
		out[i] = o.name
	}
	return out, nil
}

// Verify checks the chain (and signatures, with a key) through files, in
// the order given (see OrderFiles). each, if not nil, sees every record
// that could be read, including those after a problem. The error is for
// files that cannot be read; a broken chain is reported in Result.Problem.
func Verify(files []string, opts VerifyOptions, each func(*Record, Loc)) (*Result, error) {
	v := &verifier{opts: opts, res: &Result{Files: files}, each: each, last: opts.After}
	if opts.PublicKey != nil {
		v.res.SigChecked = true
		v.res.KeyID = KeyID(opts.PublicKey)
	}
	for _, f := range files {
		if err := v.file(f); err != nil {
			return v.res, err
		}
	}
	if v.res.Records == 0 && v.res.Problem == nil {
		v.problem(&Problem{File: strings.Join(files, ","), Kind: "empty", Msg: "no evidence record found"})
	}
	return v.res, nil
}

type verifier struct {
	opts     VerifyOptions
	res      *Result
	each     func(*Record, Loc)
	started  bool
	seq      uint64 // seq of the last good record
	last     string // hash of the last good record
	lastFile string
	lastLine int
}

func (v *verifier) problem(p *Problem) {
	v.res.Problems++
	if v.res.Problem == nil {
		v.res.Problem = p
	}
}

func (v *verifier) file(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
		loc := Loc{name, n}
		if !bytes.HasSuffix(line, []byte("\n")) {
			v.problem(&Problem{File: name, Line: n, Seq: v.seq + 1, Kind: "truncated",
				Msg: fmt.Sprintf("the file ends in the middle of a record (%d bytes without an end of line): it was cut here, so seq %d and any later records are missing or incomplete", len(line), v.seq+1)})
			return nil
		}
		v.record(bytes.TrimSuffix(line, []byte("\n")), loc)
	}
}

func (v *verifier) record(line []byte, loc Loc) {
	rec, err := decode(line)
	if rec == nil {
		v.problem(&Problem{File: loc.File, Line: loc.Line, Seq: v.seq + 1, Kind: "corrupt",
			Msg: fmt.Sprintf("not a readable evidence record (%v): the line was edited or damaged", err)})
		return
	}
	if v.each != nil {
		v.each(rec, loc)
	}
	v.res.Records++
	if rec.Sig != "" {
		v.res.Signed++
	}
	prevLoc := fmt.Sprintf("%s:%d", v.lastFile, v.lastLine)
	switch {
	case err != nil:
		v.problem(&Problem{File: loc.File, Line: loc.Line, Seq: rec.Seq, Kind: "edited",
			Msg: fmt.Sprintf("the record was edited after it was written: its %v", err)})
	case !v.started && v.opts.After == "" && (rec.Seq != 1 || rec.PrevHash != ""):
		v.problem(&Problem{File: loc.File, Line: loc.Line, Seq: rec.Seq, Kind: "genesis",
			Msg: fmt.Sprintf("the chain does not start at its first record (seq 1, empty prev_hash) but at seq %d: records before it were removed, or earlier files were not given (give them, or --after HASH of the record before)", rec.Seq)})
	case !v.started && v.opts.After != "" && rec.PrevHash != v.opts.After:
		v.problem(&Problem{File: loc.File, Line: loc.Line, Seq: rec.Seq, Kind: "broken_link",
			Msg: fmt.Sprintf("prev_hash %s is not the --after hash %s", short(rec.PrevHash), short(v.opts.After))})
	case v.started && rec.Seq > v.seq+1:
		if rec.Seq == v.seq+2 {
			v.problem(&Problem{File: loc.File, Line: loc.Line, Seq: v.seq + 1, Kind: "removed",
				Msg: fmt.Sprintf("record seq %d is missing (found seq %d after seq %d at %s): it was removed or moved", v.seq+1, rec.Seq, v.seq, prevLoc)})
		} else {
			v.problem(&Problem{File: loc.File, Line: loc.Line, Seq: v.seq + 1, Kind: "removed",
				Msg: fmt.Sprintf("records seq %d..%d are missing (found seq %d after seq %d at %s): they were removed or moved, or a file is missing", v.seq+1, rec.Seq-1, rec.Seq, v.seq, prevLoc)})
		}
	case v.started && rec.Seq <= v.seq:
		v.problem(&Problem{File: loc.File, Line: loc.Line, Seq: rec.Seq, Kind: "reordered",
			Msg: fmt.Sprintf("seq %d comes after seq %d (%s): records were reordered or duplicated", rec.Seq, v.seq, prevLoc)})
	case v.started && rec.PrevHash != v.last:
		v.problem(&Problem{File: loc.File, Line: loc.Line, Seq: rec.Seq, Kind: "broken_link",
			Msg: fmt.Sprintf("prev_hash %s does not match the hash %s of seq %d (%s): seq %d was edited and re-hashed, or replaced", short(rec.PrevHash), short(v.last), v.seq, prevLoc, v.seq)})
	case v.opts.PublicKey != nil:
		if serr := checkSig(rec, v.opts.PublicKey); serr != nil {
			kind := "bad_signature"
			if rec.Sig == "" {
				kind = "unsigned"
			}
			v.problem(&Problem{File: loc.File, Line: loc.Line, Seq: rec.Seq, Kind: kind,
				Msg: fmt.Sprintf("%v: the record was edited and re-hashed, or not written by the holder of the key", serr)})
		}
	}
	if !v.started {
		v.res.FirstSeq = rec.Seq
	}
	// Resynchronise on this record so later problems are counted, not
	// re-reported.
	v.started = true
	v.seq, v.last = rec.Seq, rec.Hash
	v.lastFile, v.lastLine = loc.File, loc.Line
	v.res.LastSeq, v.res.LastHash = rec.Seq, rec.Hash
}
