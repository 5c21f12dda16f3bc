// Package evidence is revprober's tamper-evident evidence log (docs/evidence.md):
// an append-only JSON-lines file, one record per run, each record chained to
// the previous one by its SHA-256 hash and optionally signed with Ed25519.
//
// # Record format
//
// One record is one line of UTF-8 JSON ending in "\n":
//
//	{"seq":1,"time":"…","replica":"…","run":{…},"interval_ns":60000000000,"slo_ns":30000000000,"config_digest":"…","prev_hash":"","hash":"<64 hex>","sig":"<base64>"}
//
// The members appear in exactly this order. "sig" is present only when the
// log has a signing key; "interval_ns" and "slo_ns" only when the writer
// knew them. A notice (a discontinuity the writer found and repaired at
// start: a torn tail cut off, a missing active file; later: records a
// full or read-only disk refused) is a record of its
// own in the chain, with "kind":"notice" after "replica" and a "notice"
// object instead of "run":
//
//	{"seq":9,"time":"…","replica":"…","kind":"notice","notice":{"event":"torn_tail","message":"…"},"config_digest":"","prev_hash":"…","hash":"…"}
//
// A record without "kind" is a run record.
//
// # Canonical bytes and hash
//
// The canonical bytes of a record are its line without the trailing
// members "hash" and "sig": the bytes from the opening '{' up to (not
// including) the last occurrence of `,"hash":"` on the line, followed by a
// single '}'. Equivalently, the writer produces them as the compact JSON
// encoding (Go's encoding/json, members in the order above) of
// {seq, time, replica, kind, run, notice, interval_ns, slo_ns,
// config_digest, prev_hash} (empty kind, run, notice, interval_ns and
// slo_ns omitted), and writes the line
// as those bytes minus the closing '}', then `,"hash":"HEX"`, then
// optionally `,"sig":"B64"`, then "}\n".
//
//	hash = lowercase hex of SHA-256(canonical bytes)
//	sig  = standard base64 (with padding) of Ed25519-Sign(key, the 32 raw bytes of the SHA-256)
//
// Because the hash covers the bytes as written (not a re-encoding), any
// change to a record, even of white space or member order, breaks it, and
// a verifier needs no knowledge of the run's Go types.
//
// # Chain
//
// seq starts at 1 and grows by exactly 1 per record, across rotated files.
// prev_hash is the hash of the record with seq-1, or "" for seq 1 (the
// genesis record). So removing, inserting, reordering or editing a record
// breaks either a hash, a seq or a prev_hash.
//
// Each replica writes its own chain (its own genesis, its own seq); the
// verifier groups records by "replica" and checks each chain on its own.
//
// The chain cannot show records cut from its end: the head (last seq and
// hash) has to be anchored outside the files (the
// revprober_evidence_last_seq gauge, the head the daemon logs at start and
// shutdown) and checked with VerifyOptions.Heads.
package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/revprober/revprober/internal/verdict"
)

// KindNotice is the kind of a notice record; run records have no kind.
const KindNotice = "notice"

// Record is one evidence record, as read back.
type Record struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Replica string    `json:"replica"`
	// Kind is "" for a run record, KindNotice for a notice.
	Kind   string       `json:"kind,omitempty"`
	Run    *verdict.Run `json:"run"`
	Notice *Notice      `json:"notice,omitempty"`
	// Interval is the probe's configured interval and SLO the propagation
	// objective (global.slo) in force when the run was recorded; zero when
	// the writer did not know them (records of older versions).
	Interval     time.Duration `json:"interval_ns,omitempty"`
	SLO          time.Duration `json:"slo_ns,omitempty"`
	ConfigDigest string        `json:"config_digest"`
	PrevHash     string        `json:"prev_hash"`
	Hash         string        `json:"hash"`
	Sig          string        `json:"sig,omitempty"`
}

// Notice events.
const (
	// NoticeTornTail: the active file ended in part of a record (a crash
	// in the middle of a write), which was cut off.
	NoticeTornTail = "torn_tail"
	// NoticeActiveMissing: the active file was missing while rotated files
	// were there; the chain resumed after the newest rotated file's last
	// record, and whatever the active file held is gone.
	NoticeActiveMissing = "active_missing"
	// NoticeRecordsLost: records could not be written (disk full,
	// read-only file system) and are not in the chain; Lost says how many.
	// It is written before the first record the disk takes again.
	NoticeRecordsLost = "records_lost"
)

// Notice says what the writer found and repaired when it opened the log.
type Notice struct {
	Event   string `json:"event"`
	Message string `json:"message"`
	File    string `json:"file,omitempty"`
	// CutBytes is the size of the torn tail that was cut off.
	CutBytes int64 `json:"cut_bytes,omitempty"`
	// AfterSeq is the seq of the last record found before the
	// discontinuity.
	AfterSeq uint64 `json:"after_seq,omitempty"`
	// Lost is the number of records a records_lost notice stands for.
	Lost int64 `json:"lost,omitempty"`
}

// body is the canonical part of a record, in canonical member order.
type body struct {
	Seq          uint64        `json:"seq"`
	Time         time.Time     `json:"time"`
	Replica      string        `json:"replica"`
	Kind         string        `json:"kind,omitempty"`
	Run          *verdict.Run  `json:"run,omitempty"`
	Notice       *Notice       `json:"notice,omitempty"`
	Interval     time.Duration `json:"interval_ns,omitempty"`
	SLO          time.Duration `json:"slo_ns,omitempty"`
	ConfigDigest string        `json:"config_digest"`
	PrevHash     string        `json:"prev_hash"`
}

var hashMember = []byte(`,"hash":"`)

// trailer matches the members that follow the canonical bytes.
var trailer = regexp.MustCompile(`^,"hash":"([0-9a-f]{64})"(?:,"sig":"([A-Za-z0-9+/]+={0,2})")?\}$`)

// encode builds the line of a record (with its final "\n") and its hash.
func encode(b body, key ed25519.PrivateKey) (line []byte, hash string, err error) {
	var enc bytes.Buffer
	e := json.NewEncoder(&enc)
	e.SetEscapeHTML(false) // "<secret>" stays readable
	if err := e.Encode(b); err != nil {
		return nil, "", fmt.Errorf("encoding evidence record: %w", err)
	}
	canon := bytes.TrimSuffix(enc.Bytes(), []byte("\n"))
	sum := sha256.Sum256(canon)
	hash = hex.EncodeToString(sum[:])
	var buf bytes.Buffer
	buf.Grow(len(canon) + 200)
	buf.Write(canon[:len(canon)-1])
	buf.WriteString(`,"hash":"`)
	buf.WriteString(hash)
	buf.WriteByte('"')
	if key != nil {
		buf.WriteString(`,"sig":"`)
		buf.WriteString(base64.StdEncoding.EncodeToString(ed25519.Sign(key, sum[:])))
		buf.WriteByte('"')
	}
	buf.WriteString("}\n")
	return buf.Bytes(), hash, nil
}

// errEdited says a record's content does not match its hash.
var errEdited = errors.New("content does not match its hash")

// decode parses one line (without its "\n") and checks that the record's
// hash matches its canonical bytes. It returns errEdited (wrapped) for a
// well-formed record whose content was changed, another error for a line
// that is not a record at all.
func decode(line []byte) (*Record, error) {
	i := bytes.LastIndex(line, hashMember)
	if i < 0 || len(line) == 0 || line[0] != '{' {
		return nil, errors.New("not an evidence record (no hash member)")
	}
	m := trailer.FindSubmatch(line[i:])
	if m == nil {
		return nil, errors.New("not an evidence record (malformed hash or sig member)")
	}
	var rec Record
	if err := json.Unmarshal(line, &rec); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	canon := make([]byte, 0, i+1)
	canon = append(append(canon, line[:i]...), '}')
	sum := sha256.Sum256(canon)
	if got := hex.EncodeToString(sum[:]); got != string(m[1]) || rec.Hash != got {
		return &rec, fmt.Errorf("%w (computed %s, recorded %s)", errEdited, short(got), short(string(m[1])))
	}
	return &rec, nil
}

// checkSig verifies a record's signature with pub.
func checkSig(rec *Record, pub ed25519.PublicKey) error {
	if rec.Sig == "" {
		return errors.New("not signed")
	}
	sig, err := base64.StdEncoding.DecodeString(rec.Sig)
	if err != nil {
		return fmt.Errorf("signature is not base64: %v", err)
	}
	sum, err := hex.DecodeString(rec.Hash)
	if err != nil {
		return fmt.Errorf("hash is not hex: %v", err)
	}
	if !ed25519.Verify(pub, sum, sig) {
		return errors.New("signature does not verify with the given key")
	}
	return nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return `""`
	}
	return h
}
