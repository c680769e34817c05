//go:build linux

package attack

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/e2e/figures"
)

var resultsFile = flag.String("results", "", "write the figures to this JSON file (for scripts/reltable -table attacks)")

// helperEnv, set in a re-executed test binary, makes it a helper process
// of an attack (helper_test.go): it runs one test and builds nothing.
const helperEnv = "ROSTER_ATTACK_HELPER"

// The checks of the attacks table, in its order.
var checkOrder = []string{
	"push/pull header bomb",
	"rogue serf peer, no key",
	"rogue serf peer, with the key",
	"rogue serf peer, no access control",
	"garbage UDP",
	"garbage TCP",
	"20,000 idle connections",
	"slow headers",
	"slow bodies",
	"stuck gRPC calls",
	"endless gRPC header blocks",
	"malformed HTTP",
	"garbage on the client gRPC port",
	"full data directory",
	"read-only data directory",
}

// heavy lets one flood run at a time: the node under attack shares the
// machine's cores with its attackers (which, on a network, run
// elsewhere) and with the other attacks, and a node starved of CPU for a
// second is suspected by its peers whatever the attack.
var heavy = make(chan struct{}, 1)

// exclusive waits until no other flood runs, and holds the place until
// the test ends.
func exclusive(t *testing.T) {
	heavy <- struct{}{}
	t.Cleanup(func() { <-heavy })
}

var (
	// res collects the figures of all attacks.
	res = &figures.Results{Order: checkOrder}
	// rosterBin is the binary built by TestMain, buildErr why it is not.
	rosterBin string
	buildErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv(helperEnv) != "" || testing.Short() {
		os.Exit(m.Run())
	}
	res.Started = time.Now().UTC()
	res.Machine = machine()
	dir, err := os.MkdirTemp("", "roster-attack-")
	if err == nil {
		rosterBin = filepath.Join(dir, "roster")
		// The node processes run the binary as shipped, without the race
		// detector; only the tests are race builds.
		if out, err := exec.Command("../../scripts/build.sh", rosterBin).CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("scripts/build.sh: %w: %s", err, out)
		}
	} else {
		buildErr = err
	}
	code := m.Run()
	if *resultsFile != "" {
		if err := res.Write(*resultsFile); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}

// needBinary skips in -short mode and fails when the binary did not build.
func needBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("the attack suite runs node processes")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return rosterBin
}

// machine describes where the figures are measured.
func machine() string {
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load average " + strings.Fields(string(b))[0] + " at the start"
	}
	return fmt.Sprintf("real node processes on loopback, `local` gossip profile, %d cores%s", runtime.NumCPU(), load)
}
