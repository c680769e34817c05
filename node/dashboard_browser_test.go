package node_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/node"
)

// The dashboard tests drive headless Chromium against in-process nodes.
//
//	ROSTER_REQUIRE_BROWSER=1    no Chromium is a failure, not a skip (CI)
//	ROSTER_CHROMIUM=/path       the browser to use (default: chromium on PATH)
//	ROSTER_UPDATE_SCREENSHOT=1  write docs/dashboard.png, the operations guide's screenshot
//	ROSTER_SCREENSHOT_DIR=dir   also keep every screenshot there, to look at
const screenshotFile = "../docs/dashboard.png"

// browserPath finds Chromium, or skips (fails under ROSTER_REQUIRE_BROWSER=1).
func browserPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ROSTER_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "the dashboard tests need Chromium: install it with `apt-get install chromium` " +
		"(or set ROSTER_CHROMIUM to a Chrome or Chromium binary)"
	if os.Getenv("ROSTER_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + "; ROSTER_REQUIRE_BROWSER=1 makes this a failure")
	}
	t.Skip(msg)
	return ""
}

// newBrowser starts headless Chromium with a window of width x height and
// returns a tab's context.
func newBrowser(t *testing.T, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browserPath(t)),
		chromedp.WindowSize(width, height),
		// CI runs as root in a container, where Chromium's sandbox cannot
		// start; the pages are our own.
		chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	require.NoError(t, chromedp.Do(ctx), "start Chromium")
	return ctx
}

// do runs browser steps within a deadline.
func do(t *testing.T, ctx context.Context, within time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...), what)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

// settled waits until no transition or finite animation runs (the row
// highlight fades out), so screenshots show the page at rest.
func settled() chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](`document.getAnimations().every(a =>
			a.effect.getComputedTiming().iterations === Infinity || a.playState !== 'running')`)(ctx, tg)
		return chromedp.Void{}, err
	}
}

func screenshot(t *testing.T, ctx context.Context, name string, docs bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err, "screenshot")
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, png, 0o600))
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
	if dir := os.Getenv("ROSTER_SCREENSHOT_DIR"); dir != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
	}
	if docs && os.Getenv("ROSTER_UPDATE_SCREENSHOT") == "1" {
		require.NoError(t, os.WriteFile(screenshotFile, png, 0o644))
		t.Logf("updated %s", screenshotFile)
	}
}

// dashboardCluster is node1..node3 advertising localhost to clients, as
// `roster dev` runs them.
func dashboardCluster(t *testing.T) []*node.Node {
	t.Helper()
	nodes := make([]*node.Node, 3)
	for i := range nodes {
		cfg := testConfig(t, "node"+strconv.Itoa(i+1), t.TempDir())
		cfg.ClientHost = "localhost"
		if i == 0 {
			cfg.Tags = map[string]string{"zone": "a", "region": "eu"}
		}
		nodes[i] = runNode(t, cfg)
	}
	for _, n := range nodes[1:] {
		register(t, n, nodes[0])
	}
	checkClusterFormed(t, nodes...)
	return nodes
}

func row(name string) string { return `#rows tr[data-node="` + name + `"]` }

func TestDashboardShowsTheClusterLive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	ctx := newBrowser(t, 1100, 560)
	nodes := dashboardCluster(t)
	n1 := nodes[0]

	do(t, ctx, 30*time.Second, "open the dashboard",
		chromedp.Navigate("http://"+n1.HTTPAddr()+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="live"]`)),
		chromedp.WaitVisible(chromedp.CSS(row("node3")+`[data-status="alive"]`)),
	)

	// Every node, sorted, alive; this node marked.
	rows := eval[[]string](t, ctx, `[...document.querySelectorAll('#rows tr')].map(r => r.dataset.node + ' ' + r.dataset.status)`)
	assert.Equal(t, []string{"node1 alive", "node2 alive", "node3 alive"}, rows)
	assert.Equal(t, "node1", eval[string](t, ctx, `document.querySelector('#rows tr.self').dataset.node`))
	badges := eval[[]string](t, ctx, `[...document.querySelectorAll('#rows .badge')]
		.filter(b => b.getClientRects().length > 0).map(b => b.closest('tr').dataset.node)`)
	assert.Equal(t, []string{"node1"}, badges, "only this node is marked")
	assert.Equal(t, "node1", eval[string](t, ctx, `document.getElementById('self').textContent`))

	// The fields of each node, as advertised.
	for _, n := range nodes {
		cfg := n.Config()
		cells := eval[[]string](t, ctx, fmt.Sprintf(`[...document.querySelectorAll('%s td')].map(td => td.textContent.trim())`, row(n.Name())))
		require.Len(t, cells, 9, n.Name())
		assert.Equal(t, "alive", cells[0])
		assert.Contains(t, cells[1], n.Name())
		assert.Equal(t, "localhost:"+strconv.Itoa(cfg.Port), cells[2], "client address")
		assert.Equal(t, "127.0.0.1:"+strconv.Itoa(cfg.InternalPort), cells[3], "internal address")
		assert.Equal(t, strconv.Itoa(cfg.HTTPPort), cells[4], "HTTP port")
		assert.Equal(t, "0", cells[5], "clients")
		wantTags := ""
		if n == n1 {
			wantTags = "region=eu, zone=a"
		}
		assert.Equal(t, wantTags, cells[6], "tags")
		assert.NotEmpty(t, cells[7], "since")
	}

	// A killed node turns failed on the page, without a reload.
	_ = eval[bool](t, ctx, `window.rosterTestMark = true`)
	start := time.Now()
	nodes[2].Kill()
	do(t, ctx, 30*time.Second, "node3 shown failed",
		chromedp.WaitVisible(chromedp.CSS(row("node3")+`[data-status="failed"] .status.failed`)))
	t.Logf("kill shown on the page after %s", time.Since(start).Round(time.Millisecond))
	assert.True(t, eval[bool](t, ctx, `window.rosterTestMark === true`), "the page was not reloaded")
	assert.Equal(t, "1", eval[string](t, ctx, `document.querySelector('[data-count="failed"] b').textContent`))

	do(t, ctx, 10*time.Second, "the page settles", settled())
	screenshot(t, ctx, "dashboard.png", true)

	// Unregister asks first: cancel changes nothing.
	do(t, ctx, 10*time.Second, "cancel an unregister",
		chromedp.Click(chromedp.CSS(row("node2")+` .unregister`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm[open]`)),
		chromedp.Click(chromedp.CSS(`#confirm-cancel`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#confirm[open]`)),
	)
	assert.Contains(t, statuses(t, n1), "node2", "cancel unregisters nothing")

	// Confirmed, the node disappears from the page and from every node.
	do(t, ctx, 10*time.Second, "ask to unregister node3",
		chromedp.Click(chromedp.CSS(row("node3")+` .unregister`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm[open]`)),
	)
	assert.Equal(t, "node3", eval[string](t, ctx, `document.querySelector('#confirm .target').textContent`))
	do(t, ctx, 30*time.Second, "unregister node3",
		chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		chromedp.WaitNotPresent(chromedp.CSS(row("node3"))),
	)
	for _, n := range nodes[:2] {
		eventually(t, 10*time.Second, n.Name()+" forgets node3", func() bool {
			_, listed := statuses(t, n)["node3"]
			return !listed
		})
	}
	assert.Equal(t, []string{"node1 alive", "node2 alive"},
		eval[[]string](t, ctx, `[...document.querySelectorAll('#rows tr')].map(r => r.dataset.node + ' ' + r.dataset.status)`))
}

func TestDashboardOnAPhone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	ctx := newBrowser(t, 390, 844)
	nodes := dashboardCluster(t)
	do(t, ctx, 30*time.Second, "open the dashboard on a phone",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate("http://"+nodes[0].HTTPAddr()+"/"),
		chromedp.WaitVisible(chromedp.CSS(row("node3")+`[data-status="alive"]`)),
		settled(),
	)
	assert.Equal(t, "none", eval[string](t, ctx, `getComputedStyle(document.querySelector('.nodes thead')).display`),
		"one card per node, no table header")
	assert.True(t, eval[bool](t, ctx, `document.documentElement.scrollWidth <= window.innerWidth`), "no sideways scrolling")
	screenshot(t, ctx, "dashboard-phone.png", false)
}

func TestDashboardAsksForTheToken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	ctx := newBrowser(t, 1024, 700)
	cfg := testConfig(t, "guarded", t.TempDir())
	cfg.AccessControl.Enabled = true
	cfg.AccessControl.Token = "s3cret"
	cfg.Cluster.EncryptionKey = newGossipKey(t) // required with access control
	n := runNode(t, cfg)

	do(t, ctx, 30*time.Second, "the page asks for a token",
		chromedp.Navigate("http://"+n.HTTPAddr()+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#token[open]`)),
		chromedp.SendKeys(chromedp.CSS(`#token-input`), "wrong"),
		chromedp.Click(chromedp.CSS(`#token-ok`)),
		chromedp.WaitVisible(chromedp.CSS(`#token[open] .error`)),
	)
	assert.Contains(t, eval[string](t, ctx, `document.querySelector('#token .error').textContent`), "AXONIQ-1001")

	do(t, ctx, 30*time.Second, "the right token shows the node",
		chromedp.SendKeys(chromedp.CSS(`#token-input`), "s3cret"),
		chromedp.Click(chromedp.CSS(`#token-ok`)),
		chromedp.WaitVisible(chromedp.CSS(row("guarded")+`[data-status="alive"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="live"]`)),
	)
	assert.Equal(t, "s3cret", eval[string](t, ctx, `sessionStorage.getItem('roster.token')`), "kept for the tab")
	assert.False(t, eval[bool](t, ctx, `document.getElementById('forget').hidden`), "and can be forgotten")
}
