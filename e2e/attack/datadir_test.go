//go:build linux

package attack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
)

// tmpfsDir is a directory on a tmpfs of its own (1 MiB), which a test can
// fill or make read-only; it is unmounted when the test ends. Mounting
// needs root (CAP_SYS_ADMIN): elsewhere the test is skipped, saying so.
func tmpfsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Skipf("needs to mount a tmpfs as a node's data directory, which is not permitted here (%v); run as root", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// diskFault makes a tmpfsDir unwritable; heal undoes it.
type diskFault struct {
	check  string // the row of the attacks table
	name   string
	reason string // what health tells a token holder
	inject func(t *testing.T, dir string) (heal func())
}

var diskFaults = []diskFault{
	{"full data directory", "full", "no space left on device", func(t *testing.T, dir string) func() {
		filler := filepath.Join(dir, "filler")
		f, err := os.Create(filler)
		require.NoError(t, err)
		block := make([]byte, 64<<10)
		for {
			if _, err := f.Write(block); err != nil {
				require.ErrorIs(t, err, syscall.ENOSPC)
				break
			}
		}
		// The last bytes of a partly written block.
		for _, err := f.Write(block[:1]); err == nil; _, err = f.Write(block[:1]) {
		}
		require.NoError(t, f.Close())
		return func() { require.NoError(t, os.Remove(filler)) }
	}},
	// A read-only bind mount over the directory: the kernel refuses to
	// remount the tmpfs itself read-only while the node holds a file in it
	// open for writing, but every file opened by path from then on is on a
	// read-only file system.
	{"read-only data directory", "read-only", "read-only file system", func(t *testing.T, dir string) func() {
		require.NoError(t, syscall.Mount(dir, dir, "", syscall.MS_BIND, ""))
		var once sync.Once
		heal := func() { once.Do(func() { require.NoError(t, syscall.Unmount(dir, syscall.MNT_DETACH)) }) }
		t.Cleanup(heal)
		require.NoError(t, syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""))
		return heal
	}},
}

// TestFaultyDataDirectory runs a 3-node cluster with access control in
// which n3's data directory is a small tmpfs, and makes it full, then
// read-only, while nodes are registered and stopped nodes unregistered:
//   - n3 is DOWN: exactly {"status":"DOWN"} without a token, the reason
//     with one;
//   - unregistering through n3 fails with a clear error and changes
//     nothing anywhere; a new node whose directory is as faulty fails to
//     register with a clear error and is listed nowhere;
//   - an unregistration through n1 reaches n3 too, which drops the node
//     at once like the others and writes it once it can;
//   - healed: n3 is UP, its state file has the unregistration, the failed
//     unregistration and registration succeed when retried, and every
//     node lists the same members.
func TestFaultyDataDirectory(t *testing.T) {
	t.Parallel()
	token, key := newToken(t), newKey(t)
	sec := func(name, dir string) spec { return spec{name: name, dir: dir, token: token, key: key} }
	dir3 := tmpfsDir(t)
	members := startCluster(t, sec("n1", ""), sec("n2", ""), sec("n3", dir3))
	n1, n3 := members[0], members[2]

	for _, fault := range diskFaults {
		// Victims to unregister, and a newcomer on a faulty directory.
		u, v := startNode(t, sec("u-"+fault.name, "")), startNode(t, sec("v-"+fault.name, ""))
		dirW := tmpfsDir(t)
		w := startNode(t, sec("w-"+fault.name, dirW))
		u.register(t, n1)
		v.register(t, n1)
		size := len(members) + 2
		waitAllAlive(t, 30*time.Second, append(slices.Clone(members), u, v)...)
		// Stopped (left) before they are unregistered: this attack is about
		// the faulty disks, not a live node's leave (gossip's own tests).
		u.stop()
		v.stop()
		listed := map[string]string{u.name: "left", v.name: "left"}
		for _, n := range members {
			listed[n.name] = "alive"
		}
		for _, n := range members {
			waitFor(t, 20*time.Second, "u and v left on "+n.name, func() bool {
				got, err := n.statuses(t)
				return err == nil && equalMaps(got, listed)
			})
		}
		waitFor(t, 10*time.Second, "v on n3's disk", func() bool { return slices.Contains(namesOnDisk(t, dir3), v.name) })

		healN3 := fault.inject(t, dir3)
		healW := fault.inject(t, dirW)
		down := time.Now()
		waitFor(t, 20*time.Second, "n3 DOWN", func() bool {
			status, _, _, err := n3.get("/actuator/health", false, 5*time.Second)
			return err == nil && status == http.StatusServiceUnavailable
		})
		tookDown := time.Since(down)
		status, body, _, err := n3.get("/actuator/health", false, 5*time.Second)
		require.NoError(t, err)
		require.Equal(t, http.StatusServiceUnavailable, status)
		require.Equal(t, `{"status":"DOWN"}`, body, "health without a token says DOWN and nothing else")
		_, body, _, err = n3.get("/actuator/health", true, 5*time.Second)
		require.NoError(t, err)
		var h api.Health
		require.NoError(t, json.Unmarshal([]byte(body), &h))
		require.Equal(t, api.HealthDown, h.Status)
		require.Contains(t, h.Details["disk"], fault.reason, "a token holder reads why")

		// Unregistering through n3 fails and changes nothing.
		unregErr := n3.unregister(t, u.name)
		requireAPIError(t, unregErr, http.StatusInternalServerError, "cannot write", "nothing changed")
		requireListedEverywhere(t, members, listed, time.Second)

		// Registering a node whose own directory is faulty fails, and it
		// is listed nowhere.
		c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		regErr := w.client.Join(c, api.JoinRequest{InternalHostName: "127.0.0.1", InternalGrpcPort: n1.internalPort()})
		cancel()
		requireAPIError(t, regErr, http.StatusInternalServerError, "cannot write")
		requireListedEverywhere(t, members, listed, time.Second)

		// An unregistration through n1 reaches n3 too: it drops v at once
		// and keeps it on disk until it can write.
		require.NoError(t, n1.unregister(t, v.name))
		for _, n := range members {
			waitFor(t, 10*time.Second, v.name+" gone on "+n.name, func() bool {
				got, err := n.statuses(t)
				return err == nil && got[v.name] == ""
			})
		}
		require.Contains(t, namesOnDisk(t, dir3), v.name, "not written while the directory is faulty")

		healN3()
		healW()
		healed := time.Now()
		waitFor(t, 20*time.Second, "n3 UP", func() bool {
			status, body, _, err := n3.get("/actuator/health", false, 5*time.Second)
			return err == nil && status == http.StatusOK && body == `{"status":"UP"}`
		})
		tookUp := time.Since(healed)
		waitFor(t, 10*time.Second, "the unregistration written on n3", func() bool { return !slices.Contains(namesOnDisk(t, dir3), v.name) })

		// Retried, both commands succeed. (The registration waits until
		// every node has the unregistration: a node that registers while
		// one is still spreading may list the unregistered node for good,
		// a defect of its own.)
		require.NoError(t, n3.unregister(t, u.name), "the retried unregistration")
		for _, n := range members {
			waitFor(t, 10*time.Second, u.name+" gone on "+n.name, func() bool {
				got, err := n.statuses(t)
				return err == nil && got[u.name] == ""
			})
		}
		w.register(t, n1)
		members = append(members, w)
		waitAllAlive(t, 30*time.Second, members...)
		for _, n := range members {
			require.NotContains(t, n.names(t), u.name)
			require.NotContains(t, n.names(t), v.name)
		}
		waitFor(t, 10*time.Second, "n3's state file lists the cluster", func() bool {
			got, want := namesOnDisk(t, dir3), names(members)
			slices.Sort(got)
			slices.Sort(want)
			return slices.Equal(got, want)
		})

		done := fmt.Sprintf("n3's controldb-path (a 1 MiB tmpfs) made %s in a %d-node cluster with access control, two of its nodes stopped; then `DELETE /v1/cluster/%s` through n3, `POST /v1/cluster` on a new node whose directory is %s too, `DELETE /v1/cluster/%s` through n1; then healed and the failed commands retried",
			fault.name, size, u.name, fault.name, v.name)
		seen := fmt.Sprintf("n3 DOWN after %s: `{\"status\":\"DOWN\"}` without a token, %q with it; the unregistration refused (%d %s: %s), nothing changed; the registration refused (%s), listed nowhere; %s dropped by n3 with the others, written %s after the heal, when n3 was UP again; retried commands succeeded: every node lists the same %d members",
			ms(tookDown), h.Details["disk"], statusOf(unregErr), codeOf(unregErr), messageOf(unregErr), messageOf(regErr), v.name, ms(tookUp), len(members))
		res.Add(t, fault.check, done, strings.NewReplacer(dir3, "DIR", dirW, "DIR").Replace(seen))
	}
}

// unregister is DELETE /v1/cluster/{name} through n.
func (n *node) unregister(t *testing.T, name string) error {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return n.client.Unregister(c, name)
}

// names lists the node's /v1/public.
func (n *node) names(t *testing.T) []string {
	t.Helper()
	got, err := n.statuses(t)
	require.NoError(t, err)
	out := make([]string, 0, len(got))
	for name := range got {
		out = append(out, name)
	}
	return out
}

func names(nodes []*node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.name
	}
	return out
}

// namesOnDisk is the members in the cluster state file in dir, as a
// restart would read them: the file, or its backup in the moment the
// node replaces the file.
func namesOnDisk(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cluster-state.json"))
	if errors.Is(err, os.ErrNotExist) {
		b, err = os.ReadFile(filepath.Join(dir, "cluster-state.json.bak"))
	}
	require.NoError(t, err)
	var env struct {
		State struct {
			Members []struct {
				Name string `json:"name"`
			} `json:"members"`
		} `json:"state"`
	}
	require.NoError(t, json.Unmarshal(b, &env))
	var out []string
	for _, m := range env.State.Members {
		out = append(out, m.Name)
	}
	return out
}

// requireListedEverywhere checks for d that every one of nodes lists
// exactly exp (name -> status).
func requireListedEverywhere(t *testing.T, nodes []*node, exp map[string]string, d time.Duration) {
	t.Helper()
	for start := time.Now(); time.Since(start) < d; time.Sleep(100 * time.Millisecond) {
		for _, n := range nodes {
			got, err := n.statuses(t)
			require.NoError(t, err)
			require.Equal(t, exp, got, "%s's list", n.name)
		}
	}
}

// requireAPIError checks that err is the API's error with status and a
// message that says each of words.
func requireAPIError(t *testing.T, err error, status int, words ...string) {
	t.Helper()
	var e *api.Error
	require.True(t, errors.As(err, &e), "an API error, got %v", err)
	require.Equal(t, status, e.Status, "%v", err)
	for _, w := range words {
		require.Contains(t, e.Message, w)
	}
}

func statusOf(err error) int {
	var e *api.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func codeOf(err error) string {
	var e *api.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// messageOf is an API error's message, quoted, its node-specific paths
// left as they are.
func messageOf(err error) string {
	var e *api.Error
	if errors.As(err, &e) {
		return fmt.Sprintf("%q", strings.TrimSpace(e.Message))
	}
	return fmt.Sprintf("%v", err)
}
