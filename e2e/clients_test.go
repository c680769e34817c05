//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// loadgenImage is the client fleet's image (ROSTER_E2E_LOADGEN_IMAGE).
var loadgenImage = envOr("ROSTER_E2E_LOADGEN_IMAGE", "roster-loadgen:e2e")

// fleetClient is one loadgen client as its /state reports it.
type fleetClient struct {
	ID       string  `json:"id"`
	Kind     string  `json:"kind"` // go, or axon: behaves as AxonIQ's connector and makes no calls
	Server   string  `json:"server"`
	Address  string  `json:"address"`
	Calls    int     `json:"calls"`
	Failures int     `json:"failures"`
	LastErr  string  `json:"lastError"`
	MaxGapMS float64 `json:"maxGapMs"`
	Moves    []struct {
		At   time.Time `json:"at"`
		From string    `json:"from"`
		To   string    `json:"to"`
		Why  string    `json:"why"`
	} `json:"moves"`
}

// buildLoadgen builds the client fleet's image: a static binary on scratch.
func buildLoadgen(t testing.TB) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	ctx := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(ctx, "loadgen"), "./loadgen")
	build.Dir = filepath.Dir(file)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("e2e: build loadgen: %v: %s", err, out)
	}
	df := "FROM scratch\nCOPY loadgen /loadgen\nENTRYPOINT [\"/loadgen\"]\n"
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	mustDocker(t, "build", "-q", "-t", loadgenImage, ctx)
}

// startFleet runs n Go clients and axon connector-like ones, seeded with
// every node's advertised address.
func (tb *testbed) startFleet(t testing.TB, n, axon int) string {
	var seeds []string
	for _, h := range tb.hosts {
		seeds = append(seeds, h.name+"."+domain+":8124")
	}
	ip := tb.subnet + ".100"
	mustDocker(t, "run", "-d", "--name", prefix+"-loadgen", "--network", tb.network, "--ip", ip, loadgenImage,
		"-seeds", strings.Join(seeds, ","), "-clients", fmt.Sprint(n), "-axon-clients", fmt.Sprint(axon), "-interval", "20ms")
	return "http://" + ip + ":9000"
}

func fleetState(t testing.TB, url string) []fleetClient {
	resp, err := httpClient.Get(url + "/state")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out []fleetClient
	if json.NewDecoder(resp.Body).Decode(&out) != nil {
		return nil
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func resetFleet(t testing.TB, url string) {
	resp, err := httpClient.Post(url+"/reset", "", nil)
	if err != nil {
		t.Fatalf("e2e: reset loadgen: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("e2e: reset loadgen: %s", resp.Status)
	}
}

// fleetSummary adds up a phase of the clients that call: calls, failures,
// longest gap per client.
func fleetSummary(cs []fleetClient) (calls, failures int, worstGap, medianGap float64, lastErr string) {
	var gaps []float64
	for _, c := range cs {
		if c.Kind == "axon" {
			continue
		}
		calls += c.Calls
		failures += c.Failures
		gaps = append(gaps, c.MaxGapMS)
		if c.LastErr != "" {
			lastErr = c.LastErr
		}
	}
	sort.Float64s(gaps)
	if len(gaps) > 0 {
		worstGap, medianGap = gaps[len(gaps)-1], gaps[len(gaps)/2]
	}
	return
}
