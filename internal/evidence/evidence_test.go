package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
)

func fakeRun(i int) *verdict.Run {
	p := 0.25 + float64(i)/100
	return &verdict.Run{
		ID: fmt.Sprintf("run-%03d", i), Target: "sim", Endpoint: "gtr", Driver: "janssen-global-token-revocation",
		Started: time.Date(2026, 3, 1, 12, i, 0, 0, time.UTC), Duration: time.Second,
		Result: verdict.Pass, Reason: verdict.ReasonNone, PropagationSeconds: &p,
		Checks:       []verdict.Observation{{Check: verdict.Introspection, Artifact: verdict.AccessToken, Expect: verdict.Dies, Before: verdict.Alive, After: verdict.Dead, Polls: 2, PropagationSeconds: &p}},
		Fingerprints: map[string]string{"canary01/access_token": "abcd1234"},
		ConfigDigest: "digest-1",
	}
}

func writeKey(t *testing.T, dir string) (string, ed25519.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "evidence.key")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f, pub
}

func writePub(t *testing.T, dir string, pub ed25519.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "evidence.pub")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// quietLogger captures the log's warnings.
func quietLogger() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

func writeN(t *testing.T, cfg config.Evidence, from, n int) {
	t.Helper()
	lg, _ := quietLogger()
	l, err := OpenLogger(cfg, "replica-a", lg)
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		if _, err := l.Append(fakeRun(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func readLines(t *testing.T, f string) []string {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(b), "\n")
}

func writeLines(t *testing.T, f string, lines []string) {
	t.Helper()
	if err := os.WriteFile(f, []byte(strings.Join(lines, "")), 0o640); err != nil {
		t.Fatal(err)
	}
}

func mustVerify(t *testing.T, files []string, opts VerifyOptions) *Result {
	t.Helper()
	res, err := Verify(files, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSignedChainVerifies(t *testing.T) {
	dir := t.TempDir()
	keyFile, pub := writeKey(t, dir)
	path := filepath.Join(dir, "evidence.jsonl")
	cfg := config.Evidence{Path: path, SigningKeyFile: keyFile}
	writeN(t, cfg, 0, 3)
	writeN(t, cfg, 3, 2) // resumes the chain

	res := mustVerify(t, []string{path}, VerifyOptions{PublicKey: pub})
	if !res.OK() || res.Records != 5 || res.FirstSeq != 1 || res.LastSeq != 5 || !res.SigChecked || res.Signed != 5 {
		t.Fatalf("got %+v, problem %v", res, res.Problem)
	}
	loaded, err := LoadPublicKey(writePub(t, dir, pub))
	if err != nil || !loaded.Equal(pub) {
		t.Fatalf("LoadPublicKey: %v", err)
	}
	res = mustVerify(t, []string{path}, VerifyOptions{})
	if !res.OK() || res.SigChecked || res.Signed != 5 {
		t.Fatalf("without a key: %+v", res)
	}
	// A different key fails on the first record.
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	res = mustVerify(t, []string{path}, VerifyOptions{PublicKey: other})
	if res.OK() || res.Problem.Kind != "bad_signature" || res.Problem.Line != 1 {
		t.Fatalf("wrong key: %+v", res.Problem)
	}
	// The record format: members in canonical order, the hash at the end.
	line := readLines(t, path)[1]
	for _, m := range []string{`{"seq":2,"time":"`, `"replica":"replica-a","run":{"run_id":"run-001"`, `"config_digest":"digest-1","prev_hash":"`, `","hash":"`, `","sig":"`} {
		if !strings.Contains(line, m) {
			t.Errorf("record lacks %s: %s", m, line)
		}
	}
}

// TestTamper: each kind of tampering makes verify fail and name the first
// record at fault.
func TestTamper(t *testing.T) {
	cases := []struct {
		name   string
		change func([]string) []string
		kind   string
		line   int
		seq    uint64
	}{
		{"edit a field", func(l []string) []string {
			l[2] = strings.Replace(l[2], `"result":"pass"`, `"result":"fail"`, 1)
			return l
		}, "edited", 3, 3},
		{"edit white space", func(l []string) []string {
			l[4] = strings.Replace(l[4], `{"seq":5,`, `{"seq": 5,`, 1)
			return l
		}, "edited", 5, 5},
		{"delete a record", func(l []string) []string {
			return append(l[:3:3], l[4:]...)
		}, "removed", 4, 4},
		{"swap two records", func(l []string) []string {
			l[1], l[2] = l[2], l[1]
			return l
		}, "removed", 2, 2},
		{"truncate mid-line", func(l []string) []string {
			l[5] = l[5][:len(l[5])/2]
			return l[:6]
		}, "truncated", 6, 6},
		{"edit and re-hash", func(l []string) []string {
			// An attacker without the key recomputes the hash of record 3:
			// record 4 no longer links to it.
			rec, _ := decode([]byte(strings.TrimSuffix(l[2], "\n")))
			rec.Run.Result = verdict.Fail
			line, _, _ := encode(body{Seq: rec.Seq, Time: rec.Time, Replica: rec.Replica, Run: rec.Run, ConfigDigest: rec.ConfigDigest, PrevHash: rec.PrevHash}, nil)
			l[2] = string(line)
			return l
		}, "broken_link", 4, 4},
		{"delete the first record", func(l []string) []string { return l[1:] }, "genesis", 1, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "evidence.jsonl")
			writeN(t, config.Evidence{Path: path}, 0, 8)
			if res := mustVerify(t, []string{path}, VerifyOptions{}); !res.OK() {
				t.Fatalf("untouched file: %v", res.Problem)
			}
			lines := readLines(t, path)
			lines = lines[:len(lines)-1] // SplitAfter leaves "" after the last "\n"
			writeLines(t, path, tc.change(lines))
			res := mustVerify(t, []string{path}, VerifyOptions{})
			p := res.Problem
			if p == nil {
				t.Fatal("tampering not detected")
			}
			if p.Kind != tc.kind || p.Line != tc.line || p.Seq != tc.seq || p.File != path {
				t.Fatalf("got %s, want kind %s at line %d seq %d", p, tc.kind, tc.line, tc.seq)
			}
			t.Log(p)
		})
	}
}

func TestRotationKeepsTheChain(t *testing.T) {
	dir := t.TempDir()
	keyFile, pub := writeKey(t, dir)
	path := filepath.Join(dir, "evidence.jsonl")
	// About 1.5 KB per record: three records per file.
	cfg := config.Evidence{Path: path, SigningKeyFile: keyFile, RotateBytes: 4000}
	writeN(t, cfg, 0, 10)
	rotated, err := rotatedFiles(path)
	if err != nil || len(rotated) < 2 {
		t.Fatalf("rotated files: %v %v", rotated, err)
	}
	if filepath.Base(rotated[0]) != "evidence.jsonl.000000000001" {
		t.Fatalf("first rotated file is %s", rotated[0])
	}
	files, err := OrderFiles([]string{filepath.Join(dir, "evidence.jsonl*")})
	if err != nil {
		t.Fatal(err)
	}
	if files[len(files)-1] != path {
		t.Fatalf("active file not last: %v", files)
	}
	res := mustVerify(t, files, VerifyOptions{PublicKey: pub})
	if !res.OK() || res.Records != 10 || res.LastSeq != 10 {
		t.Fatalf("rotated chain: %+v %v", res, res.Problem)
	}
	// The first record of each rotated-to file carries the previous
	// file's last hash.
	prev := readLines(t, rotated[0])
	last, _ := decode([]byte(strings.TrimSuffix(prev[len(prev)-2], "\n")))
	next, _ := decode([]byte(strings.TrimSuffix(readLines(t, rotated[1])[0], "\n")))
	if next.PrevHash != last.Hash || next.Seq != last.Seq+1 {
		t.Fatalf("chain across files: %+v → %+v", last, next)
	}
	// Removing a whole rotated file is found.
	if err := os.Remove(rotated[1]); err != nil {
		t.Fatal(err)
	}
	files, _ = OrderFiles([]string{filepath.Join(dir, "evidence.jsonl*")})
	res = mustVerify(t, files, VerifyOptions{PublicKey: pub})
	if res.OK() || res.Problem.Kind != "removed" || res.Problem.Line != 1 {
		t.Fatalf("missing file: %v", res.Problem)
	}
	// A crash right after a rotation (the new file not yet written):
	// the chain resumes from the newest rotated file. A rotation links
	// the rotated name, then renames a new empty file over the active
	// name, so a crash leaves one of two states: both names on the full
	// file, or an empty active file. Neither loses the active name.
	for _, state := range []string{"linked", "replaced"} {
		dir2 := t.TempDir()
		path2 := filepath.Join(dir2, "evidence.jsonl")
		writeN(t, config.Evidence{Path: path2}, 0, 3)
		if err := os.Link(path2, RotatedName(path2, 1)); err != nil {
			t.Fatal(err)
		}
		if state == "replaced" {
			if err := os.WriteFile(nextName(path2), nil, 0o640); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(nextName(path2), path2); err != nil {
				t.Fatal(err)
			}
		}
		writeN(t, config.Evidence{Path: path2}, 3, 2)
		files, _ = OrderFiles([]string{path2 + "*"})
		res := mustVerify(t, files, VerifyOptions{})
		if !res.OK() || res.LastSeq != 5 || len(res.Warnings) != 0 {
			t.Fatalf("resume after rotation (%s): %+v %v", state, res, res.Problem)
		}
		// Linked: Open undoes the half-done rotation (one file again).
		if want := map[string]int{"linked": 1, "replaced": 2}[state]; len(files) != want || res.Records != 5 {
			t.Fatalf("%s: files %v, %d records", state, files, res.Records)
		}
	}
	// The active file gone while rotated files remain (deleted, or moved
	// away): the next start records it in the chain, so the cut shows.
	dir3 := t.TempDir()
	path3 := filepath.Join(dir3, "evidence.jsonl")
	writeN(t, config.Evidence{Path: path3}, 0, 3)
	if err := os.Rename(path3, RotatedName(path3, 1)); err != nil {
		t.Fatal(err)
	}
	files, _ = OrderFiles([]string{path3 + "*"})
	if res := mustVerify(t, files, VerifyOptions{}); res.OK() || res.Problem.Kind != "missing_active" || res.Problem.File != path3 || res.Problem.Seq != 4 {
		t.Fatalf("active file missing: %v", res.Problem)
	}
	writeN(t, config.Evidence{Path: path3}, 3, 2)
	files, _ = OrderFiles([]string{path3 + "*"})
	res = mustVerify(t, files, VerifyOptions{})
	if !res.OK() || res.LastSeq != 6 || len(res.Notices()) != 1 {
		t.Fatalf("resume without the active file: %+v %v", res, res.Problem)
	}
	if n := res.Notices()[0]; n.Seq != 4 || n.Notice.Event != NoticeActiveMissing || n.Notice.AfterSeq != 3 || !strings.Contains(n.Notice.Message, "resumes after seq 3") {
		t.Fatalf("notice %+v", n)
	}
}

func TestDailyRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "evidence.jsonl")
	lg, _ := quietLogger()
	l, err := OpenLogger(config.Evidence{Path: path, RotateDaily: true}, "r", lg)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)
	for i := range 4 {
		now := day.Add(time.Duration(i) * 30 * time.Second) // 23:59:00 … 00:00:30
		l.now = func() time.Time { return now }
		if _, err := l.Append(fakeRun(i)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	if got := len(readLines(t, RotatedName(path, 1))) - 1; got != 2 {
		t.Fatalf("the day file has %d records, want 2", got)
	}
	files, _ := OrderFiles([]string{path + "*"})
	if res := mustVerify(t, files, VerifyOptions{}); !res.OK() || res.Records != 4 {
		t.Fatalf("%+v %v", res, res.Problem)
	}
}

// TestTornLineRepaired: a crash mid-write leaves a partial last line; Open
// logs it, cuts it off, and the chain continues with nothing complete lost.
func TestTornLineRepaired(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	writeN(t, config.Evidence{Path: path}, 0, 4)
	full, _ := os.ReadFile(path)
	line, _, _ := encode(body{Seq: 5, Run: fakeRun(4)}, nil)
	if err := os.WriteFile(path, append(full, line[:len(line)/3]...), 0o640); err != nil {
		t.Fatal(err)
	}
	if res := mustVerify(t, []string{path}, VerifyOptions{}); res.OK() || res.Problem.Kind != "truncated" || res.Problem.Line != 5 {
		t.Fatalf("torn file verified: %v", res.Problem)
	}
	lg, logs := quietLogger()
	l, err := OpenLogger(config.Evidence{Path: path}, "r", lg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "torn") {
		t.Fatalf("repair not logged: %s", logs)
	}
	// The repair is a record in the chain (seq 5): the next run is seq 6.
	if ns := l.Notices(); len(ns) != 1 || ns[0].Seq != 5 || ns[0].Notice.Event != NoticeTornTail || ns[0].Notice.CutBytes != int64(len(line)/3) {
		t.Fatalf("notices %+v", ns)
	}
	rec, err := l.Append(fakeRun(5))
	if err != nil || rec.Seq != 6 {
		t.Fatalf("after repair: %+v %v", rec, err)
	}
	l.Close()
	res := mustVerify(t, []string{path}, VerifyOptions{})
	if !res.OK() || res.Records != 6 {
		t.Fatalf("%+v %v", res, res.Problem)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], fmt.Sprintf("torn tail of %d bytes cut", len(line)/3)) {
		t.Fatalf("warnings %q", res.Warnings)
	}
	after, _ := os.ReadFile(path)
	if !bytes.HasPrefix(after, full) {
		t.Fatal("a complete record was lost")
	}
}

// TestKilledWriter kills a real writer process with SIGKILL in the middle
// of its loop, restarts the log and checks that every complete record is
// there and the chain continues.
func TestKilledWriter(t *testing.T) {
	if path := os.Getenv("REVPROBER_EVIDENCE_CHILD"); path != "" {
		l, err := Open(config.Evidence{Path: path}, "child")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for i := 0; ; i++ {
			l.Record(fakeRun(i % 60))
		}
	}
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriter$")
	cmd.Env = append(os.Environ(), "REVPROBER_EVIDENCE_CHILD="+path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the child has written at least 50 records.
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		b, _ := os.ReadFile(path)
		if bytes.Count(b, []byte("\n")) >= 50 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the child wrote fewer than 50 records in 30s")
		}
		<-tick.C
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	before, _ := os.ReadFile(path)
	complete := bytes.Count(before, []byte("\n"))
	lg, _ := quietLogger()
	l, err := OpenLogger(config.Evidence{Path: path}, "parent", lg)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := l.Append(fakeRun(0))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if rec.Seq != uint64(complete)+1 {
		t.Fatalf("resumed at seq %d after %d complete records", rec.Seq, complete)
	}
	res := mustVerify(t, []string{path}, VerifyOptions{})
	if !res.OK() || res.Records != complete+1 {
		t.Fatalf("%+v %v", res, res.Problem)
	}
}

// TestNoSecretInEvidence: a secret that reaches a run's text through
// fmt or JSON is written as <secret>, never as its value.
func TestNoSecretInEvidence(t *testing.T) {
	const value = "hunter2-very-secret"
	s := secret.New(value)
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	lg, _ := quietLogger()
	l, err := OpenLogger(config.Evidence{Path: path}, "r", lg)
	if err != nil {
		t.Fatal(err)
	}
	run := fakeRun(1)
	run.Detail = fmt.Sprintf("login with %v / %s / %+v", s, s, struct{ Password secret.Secret }{s})
	run.Steps = []verdict.Step{{Name: "login", Error: fmt.Sprint(s)}}
	run.Fingerprints = map[string]string{"canary01/access_token": fmt.Sprintf("%#v", s)}
	l.Record(run)
	l.Close()
	b, _ := os.ReadFile(path)
	if bytes.Contains(b, []byte(value)) {
		t.Fatalf("the secret's value reached the evidence: %s", b)
	}
	if !bytes.Contains(b, []byte(secret.Redacted)) {
		t.Fatal("no <secret> placeholder written")
	}
	if st := l.Stats(); st.Written != 1 || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRecordNeverPanics: errors are counted and logged.
func TestRecordNeverPanics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	lg, logs := quietLogger()
	l, err := OpenLogger(config.Evidence{Path: path}, "r", lg)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	l.Record(fakeRun(1))
	l.Record(nil)
	if st := l.Stats(); st.Failed != 2 || st.Written != 0 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(logs.String(), "record not written") {
		t.Fatalf("not logged: %s", logs)
	}
}

func TestOpenRefusesAnEditedLastRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	writeN(t, config.Evidence{Path: path}, 0, 2)
	lines := readLines(t, path)
	lines[1] = strings.Replace(lines[1], `"pass"`, `"fail"`, 1)
	writeLines(t, path, lines)
	if _, err := Open(config.Evidence{Path: path}, "r"); err == nil || !strings.Contains(err.Error(), "hash") {
		t.Fatalf("Open on an edited last record: %v", err)
	}
}
