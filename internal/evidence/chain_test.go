package evidence

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/config"
)

// Child modes of the test binary: TestMain runs one of them instead of
// the tests when REVPROBER_EVIDENCE_CHILD_MODE is set. Production code
// never reads these variables.
const (
	childMode = "REVPROBER_EVIDENCE_CHILD_MODE"
	childPath = "REVPROBER_EVIDENCE_CHILD_PATH"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childMode) {
	case "":
		os.Exit(m.Run())
	case "torn":
		childTorn(os.Getenv(childPath))
	case "hold":
		childHold(os.Getenv(childPath))
	default:
		fmt.Fprintln(os.Stderr, "unknown child mode")
		os.Exit(2)
	}
}

// childTorn writes 5 records, then writes the first half of the 6th,
// says "torn" on stdout and blocks, waiting to be killed.
func childTorn(path string) {
	l, err := Open(config.Evidence{Path: path}, "child")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := range 5 {
		if _, err := l.Append(fakeRun(i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	writeLine = func(f activeFile, line []byte) (int, error) {
		n, err := f.Write(line[:len(line)/2])
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			return n, err
		}
		fmt.Println("torn", len(line)/2)
		select {} // killed here, in the middle of the record
	}
	_, _ = l.Append(fakeRun(5))
	os.Exit(3) // not reached
}

// childHold opens the log, says "open" and blocks.
func childHold(path string) {
	if _, err := Open(config.Evidence{Path: path}, "holder"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("open")
	select {}
}

// startChild runs the test binary in a child mode and returns the process
// and the first line it prints.
func startChild(t *testing.T, mode, path string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childMode+"="+mode, childPath+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child %s: %v; stderr: %s", mode, err, stderr.String())
	}
	return cmd, strings.TrimSpace(line)
}

// TestKilledMidRecord kills a writer after it wrote half a record (a
// test hook splits the write): verify reports the torn tail; the next
// start cuts it, records a notice, and loses no complete record.
func TestKilledMidRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	cmd, line := startChild(t, "torn", path)
	half, err := strconv.Atoi(strings.TrimPrefix(line, "torn "))
	if err != nil {
		t.Fatalf("child said %q", line)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	before, _ := os.ReadFile(path)
	if bytes.HasSuffix(before, []byte("\n")) || bytes.Count(before, []byte("\n")) != 5 {
		t.Fatalf("the file does not end in a torn record: %d lines, last byte %q", bytes.Count(before, []byte("\n")), before[len(before)-1])
	}
	res := mustVerify(t, []string{path}, VerifyOptions{})
	if res.OK() || res.Problem.Kind != "truncated" || res.Problem.Line != 6 || res.Problem.Seq != 6 {
		t.Fatalf("verify of the torn file: %v", res.Problem)
	}

	lg, logs := quietLogger()
	l, err := OpenLogger(config.Evidence{Path: path}, "parent", lg)
	if err != nil {
		t.Fatal(err)
	}
	ns := l.Notices()
	if len(ns) != 1 || ns[0].Seq != 6 || ns[0].Notice.Event != NoticeTornTail || ns[0].Notice.CutBytes != int64(half) || ns[0].Notice.AfterSeq != 5 {
		t.Fatalf("notices %+v", ns)
	}
	if !strings.Contains(logs.String(), "torn") {
		t.Fatalf("repair not logged: %s", logs)
	}
	rec, err := l.Append(fakeRun(9))
	if err != nil || rec.Seq != 7 {
		t.Fatalf("next run: %+v %v", rec, err)
	}
	l.Close()
	after, _ := os.ReadFile(path)
	complete := before[:bytes.LastIndexByte(before, '\n')+1]
	if !bytes.HasPrefix(after, complete) {
		t.Fatal("a complete record was lost")
	}
	res = mustVerify(t, []string{path}, VerifyOptions{})
	if !res.OK() || res.Records != 7 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], fmt.Sprintf("torn tail of %d bytes cut", half)) {
		t.Fatalf("after the repair: %+v %v %q", res, res.Problem, res.Warnings)
	}
}

// TestSecondWriterRefused: a second writer of the same file, in another
// process or in this one, gets an error naming the file and the holder,
// also after a rotation; once the holder is gone, Open works.
func TestSecondWriterRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	cmd, line := startChild(t, "hold", path)
	if line != "open" {
		t.Fatalf("child said %q", line)
	}
	_, err := Open(config.Evidence{Path: path}, "second")
	var le *LockedError
	if !errors.As(err, &le) || le.File != path || !strings.Contains(le.Holder, fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		t.Fatalf("second writer while another process holds the file: %v", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "fork the hash chain") {
		t.Fatalf("message: %v", err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	lg, _ := quietLogger()
	cfg := config.Evidence{Path: path, RotateBytes: 4000}
	l, err := OpenLogger(cfg, "first", lg)
	if err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	for i := range 10 { // rotates: the new active file is locked too
		if _, err := l.Append(fakeRun(i)); err != nil {
			t.Fatal(err)
		}
	}
	if rot, _ := rotatedFiles(path); len(rot) == 0 {
		t.Fatal("no rotation happened")
	}
	if _, err := OpenLogger(cfg, "second", lg); !errors.As(err, &le) || !strings.Contains(le.Holder, "this process") {
		t.Fatalf("second writer after a rotation: %v", err)
	}
	l.Close()
	l2, err := OpenLogger(cfg, "second", lg)
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	l2.Close()
	files, _ := OrderFiles([]string{path + "*"})
	if res := mustVerify(t, files, VerifyOptions{}); !res.OK() || res.Records != 10 {
		t.Fatalf("%+v %v", res, res.Problem)
	}
}

// TestTailWithoutNewlineKept: a complete record that lacks only its final
// "\n" verifies, so Open keeps it (adding the "\n") and records no
// notice; bytes that do not form a verifying record are cut.
func TestTailWithoutNewlineKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	writeN(t, config.Evidence{Path: path}, 0, 3)
	full, _ := os.ReadFile(path)
	if err := os.WriteFile(path, full[:len(full)-1], 0o640); err != nil {
		t.Fatal(err)
	}
	if res := mustVerify(t, []string{path}, VerifyOptions{}); res.OK() || res.Problem.Kind != "truncated" {
		t.Fatalf("before the repair: %v", res.Problem)
	}
	lg, logs := quietLogger()
	l, err := OpenLogger(config.Evidence{Path: path}, "r", lg)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Notices()) != 0 || !strings.Contains(logs.String(), "lacked only its end of line") {
		t.Fatalf("notices %v, log %s", l.Notices(), logs)
	}
	rec, err := l.Append(fakeRun(3))
	if err != nil || rec.Seq != 4 {
		t.Fatalf("%+v %v", rec, err)
	}
	l.Close()
	after, _ := os.ReadFile(path)
	if !bytes.HasPrefix(after, full) {
		t.Fatal("the third record was not kept as it was")
	}
	if res := mustVerify(t, []string{path}, VerifyOptions{}); !res.OK() || res.Records != 4 || len(res.Warnings) != 0 {
		t.Fatalf("%+v %v", res, res.Problem)
	}

	// The same tail, edited: it does not verify, so it is cut.
	lines := readLines(t, path)
	tail := strings.Replace(strings.TrimSuffix(lines[3], "\n"), `"pass"`, `"fail"`, 1)
	writeLines(t, path, append(lines[:3:3], tail))
	l, err = OpenLogger(config.Evidence{Path: path}, "r", lg)
	if err != nil {
		t.Fatal(err)
	}
	if ns := l.Notices(); len(ns) != 1 || ns[0].Notice.CutBytes != int64(len(tail)) || ns[0].Seq != 4 {
		t.Fatalf("edited tail: notices %+v", ns)
	}
	l.Close()
}

// TestHeadAnchor: records cut from the end of the chain (or the chain cut
// and continued by a restart) pass a plain verify but not one given the
// head recorded elsewhere.
func TestHeadAnchor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	writeN(t, config.Evidence{Path: path}, 0, 8)
	res := mustVerify(t, []string{path}, VerifyOptions{})
	head := Head{Seq: res.LastSeq, Hash: res.LastHash[:12]}
	if res := mustVerify(t, []string{path}, VerifyOptions{Heads: []Head{head}}); !res.OK() || res.Chains[0].AfterHead != 0 {
		t.Fatalf("untouched: %v", res.Problem)
	}
	early := Head{Seq: 5}
	if res := mustVerify(t, []string{path}, VerifyOptions{Heads: []Head{early}}); !res.OK() || res.Chains[0].AfterHead != 3 {
		t.Fatalf("an older head is reached: %v", res.Problem)
	}
	lines := readLines(t, path)
	writeLines(t, path, lines[:3]) // truncated at a line boundary
	if res := mustVerify(t, []string{path}, VerifyOptions{}); !res.OK() {
		t.Fatalf("without a head the cut cannot be seen (documented): %v", res.Problem)
	}
	res = mustVerify(t, []string{path}, VerifyOptions{Heads: []Head{head}})
	if res.OK() || res.Problem.Kind != "cut" || res.Problem.Seq != 4 || res.Problem.Line != 3 || !strings.Contains(res.Problem.Msg, "records 4..8 were cut") {
		t.Fatalf("truncated: %v", res.Problem)
	}
	// A restart continues the chain past seq 8 with other records: the
	// record at seq 8 is not the anchored one.
	writeN(t, config.Evidence{Path: path}, 100, 6)
	res = mustVerify(t, []string{path}, VerifyOptions{Heads: []Head{head}})
	if res.OK() || res.Problem.Kind != "head_mismatch" || res.Problem.Seq != 8 || res.Problem.Line != 8 {
		t.Fatalf("rewritten: %v", res.Problem)
	}
	if res := mustVerify(t, []string{path}, VerifyOptions{Heads: []Head{{Seq: 8}}}); !res.OK() {
		t.Fatalf("seq only cannot see the rewrite, but the chain reaches 8: %v", res.Problem)
	}
	for in, want := range map[string]Head{"8": {Seq: 8}, "8:ABCDEF": {Seq: 8, Hash: "abcdef"}, "replica-a=12:0f": {Replica: "replica-a", Seq: 12, Hash: "0f"}} {
		if got, err := ParseHead(in); err != nil || got != want {
			t.Errorf("ParseHead(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "0", "x", "8:xyz", "a=b"} {
		if _, err := ParseHead(bad); err == nil {
			t.Errorf("ParseHead(%q) accepted", bad)
		}
	}
}

// TestActiveFileDeleted: the active file deleted while rotated files
// remain fails verify (missing_active), unless an anchored head says
// where the chain must end; the next start records a notice.
func TestActiveFileDeleted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "evidence.jsonl")
	cfg := config.Evidence{Path: path, RotateBytes: 4000}
	writeN(t, cfg, 0, 10)
	files, _ := OrderFiles([]string{path + "*"})
	full := mustVerify(t, files, VerifyOptions{})
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	files, _ = OrderFiles([]string{path + "*"})
	res := mustVerify(t, files, VerifyOptions{})
	if res.OK() || res.Problem.Kind != "missing_active" || res.Problem.File != path {
		t.Fatalf("active deleted: %v", res.Problem)
	}
	reached := res.LastSeq
	if res := mustVerify(t, files, VerifyOptions{Heads: []Head{{Seq: reached}}}); !res.OK() || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "is missing") {
		t.Fatalf("an archive of rotated files with its head: %v %q", res.Problem, res.Warnings)
	}
	if res := mustVerify(t, files, VerifyOptions{Heads: []Head{{Seq: full.LastSeq}}}); res.OK() || res.Problem.Kind != "cut" {
		t.Fatalf("with the real head: %v", res.Problem)
	}
	// Newest rotated file deleted too: still found.
	rot, _ := rotatedFiles(path)
	if err := os.Remove(rot[len(rot)-1]); err != nil {
		t.Fatal(err)
	}
	files, _ = OrderFiles([]string{path + "*"})
	if res := mustVerify(t, files, VerifyOptions{}); res.OK() || res.Problem.Kind != "missing_active" {
		t.Fatalf("newest rotated and active deleted: %v", res.Problem)
	}
	// The restart records the discontinuity in the chain.
	lg, _ := quietLogger()
	l, err := OpenLogger(cfg, "replica-a", lg)
	if err != nil {
		t.Fatal(err)
	}
	ns := l.Notices()
	if len(ns) != 1 || ns[0].Notice.Event != NoticeActiveMissing || ns[0].Notice.AfterSeq != ns[0].Seq-1 {
		t.Fatalf("notices %+v", ns)
	}
	l.Close()
	files, _ = OrderFiles([]string{path + "*"})
	res = mustVerify(t, files, VerifyOptions{})
	if !res.OK() || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "notice active_missing") {
		t.Fatalf("after restart: %v %q", res.Problem, res.Warnings)
	}
	rep, err := BuildReport(files, ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var md strings.Builder
	rep.Markdown(&md)
	if !strings.Contains(md.String(), "| active_missing | active file "+path+" was missing") {
		t.Fatalf("report lacks the notice:\n%s", md.String())
	}
}

// TestTwoReplicas: two replicas write interleaved runs (load spreading),
// each into its own rotated chain; one replica restarts under a new name.
// Verify and report take all their files together: one chain each, every
// run merged per probe; tampering is found in the right chain.
func TestTwoReplicas(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a", "evidence.jsonl")
	b := filepath.Join(dir, "b", "evidence.jsonl")
	lg, _ := quietLogger()
	open := func(path, name string) *Log {
		l, err := OpenLogger(config.Evidence{Path: path, RotateBytes: 4000}, name, lg)
		if err != nil {
			t.Fatal(err)
		}
		l.SetSchedule(Schedule{SLO: 30 * time.Second, Intervals: map[ProbeKey]time.Duration{{"sim", "gtr"}: time.Minute}})
		return l
	}
	la, lb := open(a, "replica-a"), open(b, "replica-b")
	for i := range 20 { // ticks alternate between the replicas
		l := la
		if i%2 == 1 {
			l = lb
		}
		if i == 11 { // replica-b restarts with another host name
			lb.Close()
			lb = open(b, "replica-b2")
			l = lb
		}
		if _, err := l.Append(fakeRun(i)); err != nil {
			t.Fatal(err)
		}
	}
	la.Close()
	lb.Close()
	files, err := OrderFiles([]string{filepath.Join(dir, "*", "evidence.jsonl*")})
	if err != nil || len(files) < 4 {
		t.Fatalf("files %v %v", files, err)
	}
	res := mustVerify(t, files, VerifyOptions{})
	if !res.OK() || res.Records != 20 || len(res.Chains) != 2 || len(res.Warnings) != 0 {
		t.Fatalf("%+v %v %q", res, res.Problem, res.Warnings)
	}
	ca, cb := res.Chains[0], res.Chains[1]
	if ca.Replica != "replica-a" || ca.Records != 10 || ca.FirstSeq != 1 || ca.LastSeq != 10 ||
		cb.Replica != "replica-b" || cb.LastSeq != 10 || strings.Join(cb.Replicas, ",") != "replica-b,replica-b2" {
		t.Fatalf("chains %+v %+v", ca, cb)
	}
	// A head per replica; without a name it is ambiguous.
	heads := []Head{{Replica: "replica-a", Seq: 10, Hash: ca.LastHash[:8]}, {Replica: "replica-b2", Seq: 10}}
	if res := mustVerify(t, files, VerifyOptions{Heads: heads}); !res.OK() {
		t.Fatalf("heads: %v", res.Problem)
	}
	if _, err := Verify(files, VerifyOptions{Heads: []Head{{Seq: 10}}}, nil); err == nil || !strings.Contains(err.Error(), "REPLICA=") {
		t.Fatalf("ambiguous head: %v", err)
	}
	if res := mustVerify(t, files, VerifyOptions{Heads: []Head{{Replica: "replica-b", Seq: 11}}}); res.OK() || res.Problem.Kind != "cut" || res.Problem.Replica != "replica-b" {
		t.Fatalf("head beyond replica-b's chain: %v", res.Problem)
	}

	rep, err := BuildReport(files, ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pr := rep.Probes[0]
	if !rep.Chain.OK() || len(rep.Probes) != 1 || pr.Runs != 20 || pr.Interval != time.Minute || !pr.IntervalConfigured || len(pr.Gaps) != 0 ||
		strings.Join(pr.Replicas, ",") != "replica-a,replica-b,replica-b2" {
		t.Fatalf("report: chain %v, probe %+v", rep.Chain.Problem, pr)
	}
	var md strings.Builder
	rep.Markdown(&md)
	for _, want := range []string{
		"| Hash chain | verified: 2 chains (one per replica), 20 records in all",
		"| replica-a | 10 | 1 to 10 | `" + ca.LastHash + "` |",
		"| replica-b → replica-b2 | 10 | 1 to 10 |",
		"| sim | gtr | 20 | 100.0 % |",
		"configured every 1m0s",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md.String())
	}

	// Remove a record of replica b: found in b's chain, a's still verifies.
	b1 := RotatedName(b, 1)
	bl := readLines(t, b1)
	writeLines(t, b1, append(bl[:1:1], bl[2:]...))
	res = mustVerify(t, files, VerifyOptions{})
	if res.OK() || res.Problem.File != b1 || res.Problem.Line != 2 || res.Problem.Kind != "removed" || res.Problem.Replica != "replica-b" || !res.Chains[0].OK() || res.Chains[1].OK() {
		t.Fatalf("tampered b: %v", res.Problem)
	}
	rep, _ = BuildReport(files, ReportOptions{})
	md.Reset()
	rep.Markdown(&md)
	if !strings.Contains(md.String(), "| replica-a | 10 | 1 to 10 | `"+ca.LastHash+"` | "+strings.Join(ca.Files, ", ")+" | verified |") ||
		!strings.Contains(md.String(), "| Hash chain | NOT VERIFIED: "+b1+":2: seq 2: removed") {
		t.Fatalf("per-replica status:\n%s", md.String())
	}
}
