//go:build browser

// Package browser drives the status page of a running `revprober demo` in
// headless Chromium (Debian's chromium package) through the DevTools
// protocol (chromedp): it finds the probes and their verdicts, presses
// "run now", sees the new run appear, follows a run link and saves
// screenshots (desktop and phone) under test/artifacts/.
//
//	make test-browser   # installs chromium, then: go test -tags browser ./test/browser/
package browser

import (
	"context"
	"fmt"
	"github.com/revprober/revprober/internal/testenv"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const probeID = "janssen-sim/global-token-revocation"

// startDemo builds revprober and runs `revprober demo` on a free port.
func startDemo(t *testing.T) (base string, logs *testenv.SyncBuffer) {
	t.Helper()
	return startDemoWith(t, demoOptions{})
}

// demoOptions run the demo over TLS with basic auth: extra flags, and the
// scheme, client and credentials that reach it.
type demoOptions struct {
	args       []string
	scheme     string // default http
	client     *http.Client
	user, pass string
}

func startDemoWith(t *testing.T, o demoOptions) (base string, logs *testenv.SyncBuffer) {
	t.Helper()
	if o.scheme == "" {
		o.scheme = "http"
	}
	if o.client == nil {
		o.client = http.DefaultClient
	}
	bin := filepath.Join(t.TempDir(), "revprober")
	build := exec.Command("go", "build", "-o", bin, "./cmd/revprober")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := testenv.FreeAddr(t)
	logs = &testenv.SyncBuffer{}
	cmd := exec.Command(bin, append([]string{"demo", "--listen", addr}, o.args...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("demo log:\n%s", logs.String())
		}
	})
	base = o.scheme + "://" + addr
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/-/ready", nil)
		if o.user != "" {
			req.SetBasicAuth(o.user, o.pass)
		}
		resp, err := o.client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, logs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo was not ready within 30s:\n%s", logs.String())
		}
		<-tick.C
	}
}

func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	execPath := os.Getenv("CHROMIUM")
	if execPath == "" {
		execPath = "/usr/bin/chromium"
	}
	if _, err := os.Stat(execPath); err != nil {
		t.Fatalf("no Chromium at %s (make tools-chromium, or set CHROMIUM): %v", execPath, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1280, 900),
	)
	opts = append(opts, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelC := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelC(); cancelB(); cancelA() })
	return ctx
}

func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("REVPROBER_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func saveShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil { // quality 100 gives a PNG, lower a JPEG
		t.Fatalf("screenshot %s: %v", name, err)
	}
	f := filepath.Join(artifacts(t), name)
	if err := os.WriteFile(f, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", f)
}

func TestStatusPageInChromium(t *testing.T) {
	base, _ := startDemo(t)
	ctx := browser(t)
	row := fmt.Sprintf(`tr[data-probe=%q]`, probeID)

	// The overview lists every probe with a verdict cell.
	var probes []string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#probes`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll("tr.probe")].map(r => r.dataset.probe + "=" + r.dataset.result)`, &probes),
	); err != nil {
		t.Fatal(err)
	}
	if len(probes) < 2 || !strings.Contains(strings.Join(probes, " "), probeID+"=") {
		t.Fatalf("probes on the page: %v", probes)
	}
	t.Logf("probes: %v", probes)

	// Press "run now". A scheduled run may hold the shared canary at that
	// moment: the page refuses clearly, and we press again once it is free.
	var runURL, note string
	for attempt := 1; ; attempt++ {
		var loc, msg string
		if err := chromedp.Run(ctx,
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(row+` button`, chromedp.ByQuery),
			chromedp.Click(row+` button`, chromedp.ByQuery),
			chromedp.WaitVisible(`#run, #message`, chromedp.ByQuery),
			chromedp.Location(&loc),
			chromedp.Evaluate(`(document.querySelector("#message")||{}).textContent || ""`, &msg),
		); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(loc, "/runs/") {
			runURL = loc
			break
		}
		if !strings.Contains(msg, "canary") || attempt == 20 {
			t.Fatalf("run now refused (attempt %d): %s", attempt, msg)
		}
		t.Logf("attempt %d refused while busy: %s", attempt, msg)
	}
	if err := chromedp.Run(ctx, chromedp.Text(`.note`, &note, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(note, "Run started on request") {
		t.Fatalf("run page note: %q", note)
	}
	runID := strings.TrimSuffix(strings.TrimPrefix(runURL[strings.Index(runURL, "/runs/"):], "/runs/"), "?new=1")
	saveShot(t, ctx, "status-run-now.png")

	// Pressing again at once is rate-limited, with a clear message.
	var msg string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(row+` button`, chromedp.ByQuery),
		chromedp.Click(row+` button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#message`, chromedp.ByQuery),
		chromedp.Text(`#message`, &msg, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "once every 10s") {
		t.Fatalf("second press: %q", msg)
	}

	// Back on the overview, the new run is in the probe's strip with its
	// verdict; follow its link to the step trace.
	var result string
	var inStrip bool
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#probes`, chromedp.ByQuery),
		chromedp.Evaluate(fmt.Sprintf(`!!document.querySelector(%q)`, row+` .strip a[href="/runs/`+runID+`"]`), &inStrip),
		chromedp.AttributeValue(row, "data-result", &result, nil, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if !inStrip || (result != "pass" && result != "fail" && result != "error") {
		t.Fatalf("new run %s in the strip: %v; verdict %q", runID, inStrip, result)
	}
	saveShot(t, ctx, "status-overview.png")
	var checks, requests string
	if err := chromedp.Run(ctx,
		chromedp.Click(row+` .strip a[href="/runs/`+runID+`"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#steps`, chromedp.ByQuery),
		chromedp.Text(`#checks`, &checks, chromedp.ByQuery),
		chromedp.Text(`#requests`, &requests, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(checks, "introspection") || !strings.Contains(requests, "POST") {
		t.Fatalf("trace: checks %q requests %.200q", checks, requests)
	}
	for _, s := range []string{"admin-secret", "canary-password-01", "canary-secret", "eyJ"} {
		var html string
		if err := chromedp.Run(ctx, chromedp.OuterHTML("html", &html, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(html, s) {
			t.Fatalf("the trace page shows %q", s)
		}
	}
	saveShot(t, ctx, "status-run.png")

	// The probe page draws its latency chart (server-rendered SVG): it has
	// a size on screen and a mark for the run made above, linked to it.
	var box []float64
	var marks int
	var hasRun bool
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/probes/"+probeID),
		chromedp.WaitVisible(`#latency-chart`, chromedp.ByQuery),
		chromedp.Evaluate(`(r => [r.width, r.height])(document.querySelector("#latency-chart").getBoundingClientRect())`, &box),
		chromedp.Evaluate(`document.querySelectorAll("#latency-chart .mark").length`, &marks),
		chromedp.Evaluate(fmt.Sprintf(`!!document.querySelector('#latency-chart .mark[data-run=%q]')`, runID), &hasRun),
	); err != nil {
		t.Fatal(err)
	}
	if len(box) != 2 || box[0] < 100 || box[1] < 30 || marks < 1 || !hasRun {
		t.Fatalf("latency chart: box %v, %d marks, the run-now run %s drawn: %v", box, marks, runID, hasRun)
	}
	saveShot(t, ctx, "status-probe-chart.png")

	// A phone-sized viewport: the page still fits (tables scroll inside
	// their own box).
	var scrollW, innerW int
	if err := chromedp.Run(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#probes`, chromedp.ByQuery),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &scrollW),
		chromedp.Evaluate(`window.innerWidth`, &innerW),
	); err != nil {
		t.Fatal(err)
	}
	saveShot(t, ctx, "status-phone.png")
	if scrollW > innerW+1 {
		t.Errorf("on a phone the page is %dpx wide in a %dpx viewport", scrollW, innerW)
	}

	// The configuration page hides secrets.
	var cfg string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/config"),
		chromedp.Text(`#config`, &cfg, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cfg, "<secret>") || strings.Contains(cfg, "admin-secret") {
		t.Fatalf("/config: %.300q", cfg)
	}
}
