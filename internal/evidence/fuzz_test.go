package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// fuzzKey signs the fuzz targets' chains: fixed, so that committed seeds
// verify with it.
var fuzzKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))

// fuzzChain is a valid chain of n run records, signed when key is set,
// and the hash of each record.
func fuzzChain(tb testing.TB, n int, key ed25519.PrivateKey) ([]byte, []string) {
	var file bytes.Buffer
	var hashes []string
	prev := ""
	for i := range n {
		run := fakeRun(i)
		line, hash, err := encode(body{Seq: uint64(i + 1), Time: time.Date(2026, 3, 1, 12, i, 0, 0, time.UTC),
			Replica: "r1", Run: run, Interval: time.Minute, ConfigDigest: run.ConfigDigest, PrevHash: prev}, key)
		if err != nil {
			tb.Fatal(err)
		}
		file.Write(line)
		hashes = append(hashes, hash)
		prev = hash
	}
	return file.Bytes(), hashes
}

var recomputeTrailer = regexp.MustCompile(`^,"hash":"([0-9a-f]{64})"(,"sig":"([^"]*)")?\}$`)

// recompute checks data as one chain of evidence/format.go's record format,
// written from its specification: every line ends in "\n"; its hash is the
// SHA-256 of its bytes up to the last `,"hash":"` plus "}"; seq starts at
// 1 with an empty prev_hash and each next record has seq+1 and the
// previous record's hash; with pub, every sig is the strict base64 of a
// valid Ed25519 signature of the hash. It returns the records' hashes.
func recompute(data []byte, pub ed25519.PublicKey) ([]string, bool) {
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, false
	}
	var hashes []string
	for i, line := range bytes.Split(data[:len(data)-1], []byte("\n")) {
		cut := bytes.LastIndex(line, []byte(`,"hash":"`))
		if cut < 0 {
			return nil, false
		}
		m := recomputeTrailer.FindSubmatch(line[cut:])
		if m == nil {
			return nil, false
		}
		canon := append(append([]byte{}, line[:cut]...), '}')
		sum := sha256.Sum256(canon)
		if hex.EncodeToString(sum[:]) != string(m[1]) {
			return nil, false
		}
		var rec struct {
			Seq      uint64 `json:"seq"`
			PrevHash string `json:"prev_hash"`
		}
		if json.Unmarshal(canon, &rec) != nil || rec.Seq != uint64(i+1) {
			return nil, false
		}
		if (i == 0 && rec.PrevHash != "") || (i > 0 && rec.PrevHash != hashes[i-1]) {
			return nil, false
		}
		if pub != nil {
			sig, err := base64.StdEncoding.Strict().DecodeString(string(m[3]))
			if err != nil || !ed25519.Verify(pub, sum[:], sig) {
				// A signature whose base64 has non-zero padding bits
				// still decodes to a valid one: the record is the same.
				if sig, err = base64.StdEncoding.DecodeString(string(m[3])); err != nil || !ed25519.Verify(pub, sum[:], sig) {
					return nil, false
				}
			}
		}
		hashes = append(hashes, string(m[1]))
	}
	return hashes, true
}

func verifyBytes(tb testing.TB, path string, data []byte, opts VerifyOptions) *Result {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	res, err := Verify([]string{path}, opts, nil)
	if err != nil {
		return &Result{Problem: &Problem{Kind: "error", Msg: err.Error()}}
	}
	return res
}

// FuzzVerify: the verifier accepts any bytes only when the chain they hold
// recomputes, record by record, from the format's specification.
func FuzzVerify(f *testing.F) {
	valid, _ := fuzzChain(f, 2, nil)
	f.Add(valid)
	f.Add(bytes.Replace(valid, []byte(`"seq":2`), []byte(`"seq":3`), 1))
	path := filepath.Join(f.TempDir(), "evidence.jsonl")
	f.Fuzz(func(t *testing.T, data []byte) {
		res := verifyBytes(t, path, data, VerifyOptions{})
		if !res.OK() {
			if res.Problem.Kind == "" || res.Problem.Msg == "" {
				t.Fatalf("a problem without kind or message: %+v", res.Problem)
			}
			return
		}
		if _, ok := recompute(data, nil); !ok {
			t.Fatalf("verify accepted a chain that does not recompute: %q", data)
		}
	})
}

// FuzzVerifyMutated mutates a valid signed chain, anchored at its head
// (delete, insert or replace one byte, or swap two lines): the verifier,
// with the key and the head, accepts the result only when it is the same
// chain (every record recomputes, signatures verify, the same hashes in
// the same order).
func FuzzVerifyMutated(f *testing.F) {
	const n = 3
	valid, hashes := fuzzChain(f, n, fuzzKey)
	f.Add(0, 0, byte(0))
	f.Add(1, 40, byte('7'))
	f.Add(2, len(valid)-5, byte('A'))
	f.Add(3, 0, byte(2))
	path := filepath.Join(f.TempDir(), "evidence.jsonl")
	opts := VerifyOptions{PublicKey: fuzzKey.Public().(ed25519.PublicKey), Heads: []Head{{Seq: n, Hash: hashes[n-1]}}}
	f.Fuzz(func(t *testing.T, op, pos int, b byte) {
		data := append([]byte{}, valid...)
		if pos < 0 {
			pos = -pos
		}
		pos %= len(data)
		switch op % 4 {
		case 0:
			data = append(data[:pos], data[pos+1:]...)
		case 1:
			data = append(data[:pos], append([]byte{b}, data[pos:]...)...)
		case 2:
			data[pos] = b
		default:
			lines := bytes.SplitAfter(valid, []byte("\n"))[:n]
			i, j := pos%n, int(b)%n
			lines[i], lines[j] = lines[j], lines[i]
			data = bytes.Join(lines, nil)
		}
		if !verifyBytes(t, path, data, opts).OK() {
			return
		}
		got, ok := recompute(data, opts.PublicKey)
		if !ok || len(got) != n || got[n-1] != hashes[n-1] {
			t.Fatalf("verify accepted a mutated chain (op %d at %d, byte %q): %q", op%4, pos, b, data)
		}
	})
}
