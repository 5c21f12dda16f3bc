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
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// PublicKey, when set, requires every record to carry a valid signature.
	PublicKey ed25519.PublicKey
	// After is the hash of the record just before the first one given (from
	// an earlier, verified file). Empty: the first record must be the
	// genesis record (seq 1, prev_hash ""). It applies to every chain
	// without an entry in AfterByReplica.
	After          string
	AfterByReplica map[string]string
	// Heads are chain heads recorded outside the files (from the
	// revprober_evidence_last_seq gauge, the daemon's log, an earlier
	// audit): each chain must reach its anchored record, so records cut
	// from its end are found.
	Heads []Head
}

// Head anchors a chain: the chain must contain the record Seq (and, with
// Hash, that record's hash must begin with Hash). Records after it are
// fine: the log keeps growing after the head was noted.
type Head struct {
	// Replica names the chain; "" is the only chain in the files.
	Replica string
	Seq     uint64
	// Hash is a prefix of the record's hash (lowercase hex), or "".
	Hash string
}

func (h Head) String() string {
	s := strconv.FormatUint(h.Seq, 10)
	if h.Hash != "" {
		s += ":" + h.Hash
	}
	if h.Replica != "" {
		s = h.Replica + "=" + s
	}
	return s
}

var hexPrefix = regexp.MustCompile(`^[0-9a-f]{1,64}$`)

// ParseHead reads [REPLICA=]SEQ[:HASHPREFIX].
func ParseHead(s string) (Head, error) {
	var h Head
	rest := s
	if i := strings.LastIndex(s, "="); i >= 0 {
		h.Replica, rest = s[:i], s[i+1:]
	}
	seq, hash, _ := strings.Cut(rest, ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil || n == 0 {
		return h, fmt.Errorf("head %q: want [REPLICA=]SEQ[:HASHPREFIX] with SEQ ≥ 1", s)
	}
	h.Seq = n
	if hash != "" {
		h.Hash = strings.ToLower(hash)
		if !hexPrefix.MatchString(h.Hash) {
			return h, fmt.Errorf("head %q: the hash prefix is not hex", s)
		}
	}
	return h, nil
}

// Problem is the first place where the evidence does not verify.
type Problem struct {
	File string `json:"file"`
	Line int    `json:"line"`
	// Seq is the seq of the record at fault: the one read at File:Line,
	// or, for a missing record, the seq that was expected there.
	Seq uint64 `json:"seq"`
	// Replica is the chain the problem is in.
	Replica string `json:"replica"`
	Kind    string `json:"kind"` // edited, removed, reordered, truncated, corrupt, broken_link, unsigned, bad_signature, genesis, empty, cut, head_mismatch, missing_active
	Msg     string `json:"message"`
}

func (p *Problem) Error() string {
	if p.Line == 0 { // a whole file or chain
		return fmt.Sprintf("%s: seq %d: %s: %s", p.File, p.Seq, p.Kind, p.Msg)
	}
	return fmt.Sprintf("%s:%d: seq %d: %s: %s", p.File, p.Line, p.Seq, p.Kind, p.Msg)
}

// NoticeAt is a notice record found in a chain: a repair the writer made
// (a torn tail cut, a missing active file). The chain stays intact; the
// notice says where records may have been lost.
type NoticeAt struct {
	File   string    `json:"file"`
	Line   int       `json:"line"`
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Notice Notice    `json:"notice"`
}

// Chain is what Verify found about one chain: the records of one writer
// (one replica's evidence.path), from its genesis on.
type Chain struct {
	// Replica is the replica named by the chain's first record; Replicas
	// every name its records carry (a replica whose name is its host name
	// may change name at a restart and keep its chain).
	Replica  string     `json:"replica"`
	Replicas []string   `json:"replicas"`
	Files    []string   `json:"files"` // files holding its records, in order
	Records  int        `json:"records"`
	FirstSeq uint64     `json:"first_seq"`
	LastSeq  uint64     `json:"last_seq"`
	LastHash string     `json:"last_hash"` // the chain's head
	Signed   int        `json:"signed"`
	Notices  []NoticeAt `json:"notices,omitempty"`
	// Head is the anchor it was checked against, if any; AfterHead counts
	// the records after it.
	Head      *Head    `json:"head,omitempty"`
	AfterHead uint64   `json:"records_after_head,omitempty"`
	Problem   *Problem `json:"problem,omitempty"`
	Problems  int      `json:"problems"`
}

// OK reports whether the chain verified.
func (c *Chain) OK() bool { return c.Problem == nil }

// Result is what Verify found.
type Result struct {
	Files   []string `json:"files"` // in chain order
	Records int      `json:"records"`
	// FirstSeq, LastSeq and LastHash are those of the chain when the files
	// hold one chain (one replica); see Chains for several.
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	LastHash string `json:"last_hash"` // the chain's head
	Signed   int    `json:"signed"`    // records carrying a signature
	// SigChecked says signatures were verified (a key was given).
	SigChecked bool   `json:"signatures_checked"`
	KeyID      string `json:"key_id,omitempty"`
	// Chains has one entry per replica, by name.
	Chains []*Chain `json:"chains"`
	// Warnings do not fail verification: the notices in the chains, an
	// active file that exists but was not given, a missing active file
	// when an anchored head was reached.
	Warnings []string `json:"warnings,omitempty"`
	// Problem is the first problem; Problems counts them all (after the
	// first one the check resynchronises on the next readable record).
	Problem  *Problem `json:"problem,omitempty"`
	Problems int      `json:"problems"`
}

// OK reports whether everything verified.
func (r *Result) OK() bool { return r.Problem == nil }

// Notices lists the notices of every chain.
func (r *Result) Notices() []NoticeAt {
	var out []NoticeAt
	for _, c := range r.Chains {
		out = append(out, c.Notices...)
	}
	return out
}

// Loc says where a record was read.
type Loc struct {
	File string
	Line int
}

// OrderFiles sorts evidence files into chain order, by the seq of each
// file's first record (then by replica and name), so a shell glob (which
// puts evidence.jsonl before evidence.jsonl.000000000001) can be passed as
// is. The files of several replicas interleave; Verify tells their chains
// apart. Arguments that are
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
		name    string
		replica string
		seq     uint64
		ok      bool
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
					Seq     *uint64 `json:"seq"`
					Replica string  `json:"replica"`
				}
				if json.Unmarshal(line, &r) == nil && r.Seq != nil {
					o.seq, o.replica, o.ok = *r.Seq, r.Replica, true
				}
			}
			fh.Close()
		}
		list = append(list, o)
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.ok != b.ok {
			return a.ok
		}
		if !a.ok {
			return false
		}
		if a.seq != b.seq {
			return a.seq < b.seq
		}
		if a.replica != b.replica {
			return a.replica < b.replica
		}
		return a.name < b.name
	})
	out := make([]string, len(list))
	for i, o := range list {
		out[i] = o.name
	}
	return out, nil
}

// Verify checks the chains (and signatures, with a key) through files, in
// the order given (see OrderFiles). Each replica writes a chain of its
// own, with its own genesis, so the files of several replicas can be
// verified together: a record belongs to the chain of the record before
// it in the same file (one writer per file); the first record of a file
// belongs to the chain it extends (seq and prev_hash), else to the chain
// of the same replica name (then a problem is reported there), else it
// starts a chain, which must begin at a genesis record. each, if not
// nil, sees every record that could be read, including those after a
// problem. The error is for files that cannot be read and for a head
// that names no chain when there are several; a broken chain is reported
// in Result.Problem.
func Verify(files []string, opts VerifyOptions, each func(*Record, Loc)) (*Result, error) {
	vs := &verifySet{opts: opts, res: &Result{Files: files}, each: each}
	if opts.PublicKey != nil {
		vs.res.SigChecked = true
		vs.res.KeyID = KeyID(opts.PublicKey)
	}
	for _, f := range files {
		if err := vs.file(f); err != nil {
			return vs.res, err
		}
	}
	res := vs.res
	if res.Records == 0 && res.Problem == nil {
		vs.problem(nil, &Problem{File: strings.Join(files, ","), Kind: "empty", Msg: "no evidence record found"})
	}
	sort.SliceStable(vs.chains, func(i, j int) bool { return vs.chains[i].chain.Replica < vs.chains[j].chain.Replica })
	byName := map[string][]*Chain{}
	for _, v := range vs.chains {
		res.Chains = append(res.Chains, v.chain)
		byName[v.chain.Replica] = append(byName[v.chain.Replica], v.chain)
	}
	for _, v := range vs.chains {
		if cs := byName[v.chain.Replica]; len(cs) > 1 && cs[0] == v.chain {
			res.Warnings = append(res.Warnings, fmt.Sprintf("replica %s has %d chains, each from its own genesis: its evidence was started afresh (files lost or deleted) after seq %d", orQuoted(v.chain.Replica), len(cs), cs[0].LastSeq))
		}
	}
	if err := vs.checkHeads(); err != nil {
		return res, err
	}
	vs.checkActive()
	if len(res.Chains) == 1 {
		c := res.Chains[0]
		res.FirstSeq, res.LastSeq, res.LastHash = c.FirstSeq, c.LastSeq, c.LastHash
	}
	for _, c := range res.Chains {
		for _, n := range c.Notices {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s:%d: seq %d (replica %s): notice %s: %s", n.File, n.Line, n.Seq, orQuoted(c.Replica), n.Notice.Event, n.Notice.Message))
		}
	}
	return res, nil
}

func orQuoted(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// verifySet dispatches records to their chains.
type verifySet struct {
	opts   VerifyOptions
	res    *Result
	each   func(*Record, Loc)
	chains []*verifier
	// inFile is the chain of the last record read in the current file,
	// cur that of the last record read at all.
	inFile, cur *verifier
}

type verifier struct {
	set      *verifySet
	chain    *Chain
	after    string
	started  bool
	seq      uint64 // seq of the last good record
	last     string // hash of the last good record
	lastFile string
	lastLine int
	replica  string // of the last record
	// anchors: seq → where the record anchored by a head was found.
	anchors map[uint64]*anchorSeen
}

type anchorSeen struct {
	hash string
	loc  Loc
}

// chainOf finds the chain rec belongs to, or starts one.
func (vs *verifySet) chainOf(rec *Record) *verifier {
	if vs.inFile != nil {
		return vs.inFile
	}
	if rec.PrevHash != "" {
		for _, v := range vs.chains {
			if v.seq+1 == rec.Seq && v.last == rec.PrevHash {
				return v
			}
		}
	}
	if rec.Seq != 1 || rec.PrevHash != "" {
		for i := len(vs.chains) - 1; i >= 0; i-- {
			if vs.chains[i].replica == rec.Replica {
				return vs.chains[i]
			}
		}
	}
	v := &verifier{set: vs, chain: &Chain{Replica: rec.Replica}, after: vs.opts.After, anchors: map[uint64]*anchorSeen{}}
	if a, ok := vs.opts.AfterByReplica[rec.Replica]; ok {
		v.after = a
	}
	for _, h := range vs.opts.Heads {
		v.anchors[h.Seq] = nil
	}
	vs.chains = append(vs.chains, v)
	return v
}

// problem records p in chain v (nil: a line no chain can be told for).
func (vs *verifySet) problem(v *verifier, p *Problem) {
	vs.res.Problems++
	if vs.res.Problem == nil {
		vs.res.Problem = p
	}
	if v != nil {
		p.Replica = v.chain.Replica
		v.chain.Problems++
		if v.chain.Problem == nil {
			v.chain.Problem = p
		}
	}
}

func (vs *verifySet) file(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	vs.inFile = nil
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
			next := vs.nextSeq()
			vs.problem(vs.cur, &Problem{File: name, Line: n, Seq: next, Kind: "truncated",
				Msg: fmt.Sprintf("the file ends in the middle of a record (%d bytes without an end of line): it was cut here, so seq %d and any later records are missing or incomplete", len(line), next)})
			return nil
		}
		vs.record(bytes.TrimSuffix(line, []byte("\n")), loc)
	}
}

func (vs *verifySet) nextSeq() uint64 {
	if vs.cur == nil {
		return 1
	}
	return vs.cur.seq + 1
}

func (vs *verifySet) record(line []byte, loc Loc) {
	rec, err := decode(line)
	if rec == nil {
		next := vs.nextSeq()
		vs.problem(vs.cur, &Problem{File: loc.File, Line: loc.Line, Seq: next, Kind: "corrupt",
			Msg: fmt.Sprintf("not a readable evidence record (%v): the line was edited or damaged", err)})
		return
	}
	v := vs.chainOf(rec)
	vs.cur, vs.inFile = v, v
	if vs.each != nil {
		vs.each(rec, loc)
	}
	v.record(rec, err, loc)
}

func (v *verifier) record(rec *Record, err error, loc Loc) {
	c, res := v.chain, v.set.res
	res.Records++
	c.Records++
	if rec.Sig != "" {
		res.Signed++
		c.Signed++
	}
	if n := len(c.Files); n == 0 || c.Files[n-1] != loc.File {
		c.Files = append(c.Files, loc.File)
	}
	if !slices.Contains(c.Replicas, rec.Replica) {
		c.Replicas = append(c.Replicas, rec.Replica)
	}
	problem := func(p *Problem) { v.set.problem(v, p) }
	prevLoc := fmt.Sprintf("%s:%d", v.lastFile, v.lastLine)
	switch {
	case err != nil:
		problem(&Problem{File: loc.File, Line: loc.Line, Seq: rec.Seq, Kind: "edited",
			Msg: fmt.Sprintf("the record was edited after it was written: its %v", err)})
	case !v.started && v.after == "" && (rec.Seq != 1 || rec.PrevHash != ""):
		problem(&Problem{File: loc.File, Line: loc.Line, Seq: rec.Seq, Kind: "genesis",
			Msg: fmt.Sprintf("the chain of replica %s does not start at its first record (seq 1, empty prev_hash) but at seq %d: records before it were removed, or earlier files were not given (give them, or --after HASH of the record before)", orQuoted(rec.Replica), rec.Seq)})
	case !v.started && v.after != "" && rec.PrevHash != v.after:
		problem(&Problem{File: loc.File, Line: loc.Line, Seq: rec.Seq, Kind: "broken_link",
			Msg: fmt.Sprintf("prev_hash %s is not the --after hash %s", short(rec.PrevHash), short(v.after))})
	case v.started && rec.Seq > v.seq+1:
		if rec.Seq == v.seq+2 {
			problem(&Problem{File: loc.File, Line: loc.Line, Seq: v.seq + 1, Kind: "removed",
				Msg: fmt.Sprintf("record seq %d is missing (found seq %d after seq %d at %s): it was removed or moved", v.seq+1, rec.Seq, v.seq, prevLoc)})
		} else {
			problem(&Problem{File: loc.File, Line: loc.Line, Seq: v.seq + 1, Kind: "removed",
				Msg: fmt.Sprintf("records seq %d..%d are missing (found seq %d after seq %d at %s): they were removed or moved, or a file is missing", v.seq+1, rec.Seq-1, rec.Seq, v.seq, prevLoc)})
		}
	case v.started && rec.Seq <= v.seq:
		problem(&Problem{File: loc.File, Line: loc.Line, Seq: rec.Seq, Kind: "reordered",
			Msg: fmt.Sprintf("seq %d comes after seq %d (%s): records were reordered or duplicated", rec.Seq, v.seq, prevLoc)})
	case v.started && rec.PrevHash != v.last:
		problem(&Problem{File: loc.File, Line: loc.Line, Seq: rec.Seq, Kind: "broken_link",
			Msg: fmt.Sprintf("prev_hash %s does not match the hash %s of seq %d (%s): seq %d was edited and re-hashed, or replaced", short(rec.PrevHash), short(v.last), v.seq, prevLoc, v.seq)})
	case v.set.opts.PublicKey != nil:
		if serr := checkSig(rec, v.set.opts.PublicKey); serr != nil {
			kind := "bad_signature"
			if rec.Sig == "" {
				kind = "unsigned"
			}
			problem(&Problem{File: loc.File, Line: loc.Line, Seq: rec.Seq, Kind: kind,
				Msg: fmt.Sprintf("%v: the record was edited and re-hashed, or not written by the holder of the key", serr)})
		}
	}
	if rec.Kind == KindNotice && rec.Notice != nil {
		c.Notices = append(c.Notices, NoticeAt{File: loc.File, Line: loc.Line, Seq: rec.Seq, Time: rec.Time, Notice: *rec.Notice})
	}
	if a, ok := v.anchors[rec.Seq]; ok && a == nil {
		v.anchors[rec.Seq] = &anchorSeen{hash: rec.Hash, loc: loc}
	}
	if !v.started {
		c.FirstSeq = rec.Seq
	}
	// Resynchronise on this record so later problems are counted, not
	// re-reported.
	v.started = true
	v.seq, v.last = rec.Seq, rec.Hash
	v.lastFile, v.lastLine, v.replica = loc.File, loc.Line, rec.Replica
	c.LastSeq, c.LastHash = rec.Seq, rec.Hash
}

// checkHeads checks every chain against its anchored head.
func (vs *verifySet) checkHeads() error {
	for _, h := range vs.opts.Heads {
		var v *verifier
		switch {
		case h.Replica != "":
			// The newest chain that carries the name.
			for _, c := range vs.chains {
				if slices.Contains(c.chain.Replicas, h.Replica) {
					v = c
				}
			}
			if v == nil {
				vs.problem(nil, &Problem{File: strings.Join(vs.res.Files, ","), Seq: h.Seq, Replica: h.Replica, Kind: "cut",
					Msg: fmt.Sprintf("no record of replica %s was found, but its anchored head is seq %d: its chain was removed, or its files were not given", h.Replica, h.Seq)})
				continue
			}
		case len(vs.chains) == 1:
			v = vs.chains[0]
		case len(vs.chains) == 0:
			continue // already reported as empty
		default:
			names := make([]string, 0, len(vs.chains))
			for _, c := range vs.chains {
				names = append(names, orQuoted(c.chain.Replica))
			}
			return fmt.Errorf("--head %s names no replica, but the files hold %d chains (%s): write --head REPLICA=%s", h, len(names), strings.Join(names, ", "), h)
		}
		c := v.chain
		hh := h
		c.Head = &hh
		seen := v.anchors[h.Seq]
		switch {
		case seen == nil && c.LastSeq < h.Seq:
			vs.problem(v, &Problem{File: v.lastFile, Line: v.lastLine, Seq: c.LastSeq + 1, Kind: "cut",
				Msg: fmt.Sprintf("the chain of replica %s ends at seq %d (%s:%d) but the anchored head is seq %d: records %d..%d were cut from its end, or the files holding them were not given", orQuoted(c.Replica), c.LastSeq, v.lastFile, v.lastLine, h.Seq, c.LastSeq+1, h.Seq)})
		case seen == nil:
			vs.problem(v, &Problem{File: v.lastFile, Line: v.lastLine, Seq: h.Seq, Kind: "cut",
				Msg: fmt.Sprintf("the anchored head seq %d is not in the chain of replica %s (which reaches seq %d): it was removed", h.Seq, orQuoted(c.Replica), c.LastSeq)})
		case h.Hash != "" && !strings.HasPrefix(seen.hash, h.Hash):
			vs.problem(v, &Problem{File: seen.loc.File, Line: seen.loc.Line, Seq: h.Seq, Kind: "head_mismatch",
				Msg: fmt.Sprintf("the record at seq %d has hash %s, not the anchored %s: the chain was rewritten at or before seq %d", h.Seq, short(seen.hash), h.Hash, h.Seq)})
		default:
			c.AfterHead = c.LastSeq - h.Seq
		}
	}
	return nil
}

// checkActive finds rotated files given without their active file. The
// writer never removes the active file (a rotation replaces it in one
// rename), so a missing one means the newest records were deleted with
// it — unless an anchored head says where the chain must end and it was
// reached (an archive of rotated files).
func (vs *verifySet) checkActive() {
	given := map[string]bool{}
	for _, f := range vs.res.Files {
		given[f] = true
	}
	for _, v := range vs.chains {
		c := v.chain
		done := map[string]bool{}
		for _, f := range c.Files {
			dot := strings.LastIndexByte(f, '.')
			if dot < 0 || !rotatedSuffix.MatchString(f[dot:]) {
				continue
			}
			base := f[:dot]
			if given[base] || done[base] {
				continue
			}
			done[base] = true
			if _, err := os.Stat(base); err == nil {
				vs.res.Warnings = append(vs.res.Warnings, fmt.Sprintf("%s exists but was not given: the records of replica %s after seq %d (%s) were not checked", base, orQuoted(c.Replica), c.LastSeq, v.lastFile))
				continue
			}
			if c.Head != nil && c.Problem == nil {
				vs.res.Warnings = append(vs.res.Warnings, fmt.Sprintf("the active file %s is missing; the chain of replica %s reaches its anchored head seq %d", base, orQuoted(c.Replica), c.Head.Seq))
				continue
			}
			vs.problem(v, &Problem{File: base, Seq: c.LastSeq + 1, Kind: "missing_active",
				Msg: fmt.Sprintf("the active file is missing while its rotated files are here: the records of replica %s after seq %d (the last one in %s) were deleted with it, or the files were copied without it; give the active file, or --head with the seq the chain must reach", orQuoted(c.Replica), c.LastSeq, v.lastFile)})
		}
	}
}
