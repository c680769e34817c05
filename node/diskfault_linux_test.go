package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/node"
)

// tmpfsDir is a data directory on a tmpfs of its own (1 MiB), which the
// test can fill up or make read-only. Mounting needs root
// (CAP_SYS_ADMIN); elsewhere the test is skipped, saying why.
func tmpfsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Skipf("needs to mount a tmpfs as the data directory, which is not permitted here (%v); run as root", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// diskFault makes a tmpfsDir unwritable and returns what undoes it.
type diskFault struct {
	name   string
	inject func(t *testing.T, dir string) (heal func())
}

var diskFaults = []diskFault{
	{"full", func(t *testing.T, dir string) func() {
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
	// remount the tmpfs itself read-only while serf holds its snapshot
	// open for writing, but every file opened by path from now on (the
	// state, its backup, the probe) is on a read-only file system.
	{"read-only", func(t *testing.T, dir string) func() {
		require.NoError(t, syscall.Mount(dir, dir, "", syscall.MS_BIND, ""))
		var once sync.Once
		heal := func() { once.Do(func() { require.NoError(t, syscall.Unmount(dir, syscall.MNT_DETACH)) }) }
		t.Cleanup(heal)
		require.NoError(t, syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""))
		return heal
	}},
}

// logBuffer keeps a node's log for the test to read, and writes it to the
// test's log too.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	w   io.Writer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	return l.w.Write(p)
}

func (l *logBuffer) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.buf.String(), s)
}

// runNodeLogged is runNode with the node's log kept for the test.
func runNodeLogged(t *testing.T, cfg node.Config) (*node.Node, *logBuffer) {
	t.Helper()
	logs := &logBuffer{w: newTestLogWriter(t)}
	n, err := node.Start(context.Background(), cfg, node.Options{Logger: zerolog.New(logs).Level(zerolog.InfoLevel)})
	require.NoError(t, err)
	t.Cleanup(func() { stop(n) })
	return n, logs
}

// healthOf is n's /actuator/health: its HTTP status and body, with token
// when it is set.
func healthOf(t *testing.T, n *node.Node, token string) (int, api.Health, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+n.HTTPAddr()+"/actuator/health", nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set(api.TokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var h api.Health
	require.NoError(t, json.Unmarshal(b, &h), string(b))
	return resp.StatusCode, h, strings.TrimSpace(string(b))
}

// waitHealth waits until n's health answers status (200 or 503).
func waitHealth(t *testing.T, n *node.Node, status int) api.Health {
	t.Helper()
	var h api.Health
	eventually(t, 20*time.Second, fmt.Sprintf("%s health %d", n.Name(), status), func() bool {
		var got int
		got, h, _ = healthOf(t, n, "")
		return got == status
	})
	return h
}

// onDisk is the cluster state in dir as the file holds it.
type onDisk struct {
	NodeID       string             `json:"nodeId"`
	Members      []gossip.Member    `json:"members"`
	Unregistered []gossip.Tombstone `json:"unregistered"`
}

func stateOnDisk(t *testing.T, dir string) onDisk {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cluster-state.json"))
	require.NoError(t, err)
	var env struct {
		State onDisk `json:"state"`
	}
	require.NoError(t, json.Unmarshal(b, &env))
	return env.State
}

func (s onDisk) names() map[string]bool {
	out := map[string]bool{}
	for _, m := range s.Members {
		out[m.Name] = true
	}
	return out
}

// TestUnregisteredNodeWithAFaultyDisk: a live node whose data directory is
// full or read-only is unregistered. It leaves and runs standalone with
// gossip running, says so in its log, is DOWN (with the reason) until the
// directory takes writes again, then UP, with the standalone state on
// disk: restarted, it stays out.
func TestUnregisteredNodeWithAFaultyDisk(t *testing.T) {
	t.Parallel()
	for _, fault := range diskFaults {
		t.Run(fault.name, func(t *testing.T) {
			n1 := runNode(t, testConfig(t, "n1", t.TempDir()))
			n2 := runNode(t, testConfig(t, "n2", t.TempDir()))
			cfg3 := testConfig(t, "n3", tmpfsDir(t))
			n3, logs := runNodeLogged(t, cfg3)
			register(t, n2, n1)
			register(t, n3, n1)
			checkClusterFormed(t, n1, n2, n3)

			heal := fault.inject(t, cfg3.ControlDBPath)
			h := waitHealth(t, n3, http.StatusServiceUnavailable)
			require.Equal(t, api.HealthDown, h.Status)
			require.Contains(t, h.Details["disk"], "cannot write the data directory")

			require.NoError(t, client(n1).Unregister(context.Background(), "n3"))
			eventually(t, 10*time.Second, "n3 standalone", func() bool {
				return mapsEqual(statuses(t, n3), map[string]string{"n3": "alive"})
			})
			for _, n := range []*node.Node{n1, n2} {
				eventually(t, 10*time.Second, "n3 gone on "+n.Name(), func() bool {
					return mapsEqual(statuses(t, n), map[string]string{"n1": "alive", "n2": "alive"})
				})
			}
			status, h, _ := healthOf(t, n3, "")
			require.Equal(t, http.StatusServiceUnavailable, status)
			require.Contains(t, h.Details["disk"], "cannot write")
			require.Equal(t, "1 of 1 registered nodes alive", h.Details["gossip"], "gossip runs, standalone")
			require.True(t, logs.contains("left the cluster, but cannot write that to the data directory"), "n3 says so in its log")
			require.Equal(t, 3, len(stateOnDisk(t, cfg3.ControlDBPath).Members), "not written yet")

			heal()
			waitHealth(t, n3, http.StatusOK)
			st := stateOnDisk(t, cfg3.ControlDBPath)
			require.Equal(t, map[string]bool{"n3": true}, st.names(), "the standalone state reached the disk")
			require.True(t, logs.contains("the cluster state is written again"))

			stop(n3)
			cfg3.Port, cfg3.HTTPPort, cfg3.InternalPort = 0, 0, 0
			n3 = runNode(t, cfg3)
			time.Sleep(2 * time.Second)
			require.Equal(t, map[string]string{"n3": "alive"}, statuses(t, n3))
			require.Equal(t, map[string]string{"n1": "alive", "n2": "alive"}, statuses(t, n1))
		})
	}
}

// TestUnregistrationArrivingOnAFaultyDiskIsWrittenLater: a node whose data
// directory is full or read-only hears of an unregistration: it drops the
// node at once like every other node, is DOWN while it cannot write, and
// writes the change as soon as the directory takes it.
func TestUnregistrationArrivingOnAFaultyDiskIsWrittenLater(t *testing.T) {
	t.Parallel()
	for _, fault := range diskFaults {
		t.Run(fault.name, func(t *testing.T) {
			n1 := runNode(t, testConfig(t, "n1", t.TempDir()))
			n2 := runNode(t, testConfig(t, "n2", t.TempDir()))
			cfg3 := testConfig(t, "n3", tmpfsDir(t))
			n3 := runNode(t, cfg3)
			n4 := runNode(t, testConfig(t, "n4", t.TempDir()))
			for _, n := range []*node.Node{n2, n3, n4} {
				register(t, n, n1)
			}
			checkClusterFormed(t, n1, n2, n3, n4)
			eventually(t, 10*time.Second, "n4 on n3's disk", func() bool { return stateOnDisk(t, cfg3.ControlDBPath).names()["n4"] })

			heal := fault.inject(t, cfg3.ControlDBPath)
			require.NoError(t, client(n1).Unregister(context.Background(), "n4"))
			want := map[string]string{"n1": "alive", "n2": "alive", "n3": "alive"}
			for _, n := range []*node.Node{n1, n2, n3} {
				eventually(t, 10*time.Second, "n4 gone on "+n.Name(), func() bool { return mapsEqual(statuses(t, n), want) })
			}
			h := waitHealth(t, n3, http.StatusServiceUnavailable)
			require.Contains(t, h.Details["disk"], "cannot write")
			require.True(t, stateOnDisk(t, cfg3.ControlDBPath).names()["n4"], "not written while the disk is faulty")

			heal()
			waitHealth(t, n3, http.StatusOK)
			st := stateOnDisk(t, cfg3.ControlDBPath)
			require.False(t, st.names()["n4"], "the unregistration reached the disk")
			require.Len(t, st.Unregistered, 1)
			require.Equal(t, "n4", st.Unregistered[0].Name)
		})
	}
}

// TestCommandsOnAFaultyDiskChangeNothing: a node whose data directory is
// full or read-only refuses to unregister another node (500, nothing
// changed anywhere), and a new node whose directory is so refuses to
// register; both work once the directory takes writes.
func TestCommandsOnAFaultyDiskChangeNothing(t *testing.T) {
	t.Parallel()
	for _, fault := range diskFaults {
		t.Run(fault.name, func(t *testing.T) {
			cfg1 := testConfig(t, "n1", tmpfsDir(t))
			n1 := runNode(t, cfg1)
			n2 := runNode(t, testConfig(t, "n2", t.TempDir()))
			n3 := runNode(t, testConfig(t, "n3", t.TempDir()))
			register(t, n2, n1)
			register(t, n3, n1)
			checkClusterFormed(t, n1, n2, n3)
			cfg4 := testConfig(t, "n4", tmpfsDir(t))
			n4 := runNode(t, cfg4)

			heal1 := fault.inject(t, cfg1.ControlDBPath)
			err := client(n1).Unregister(context.Background(), "n3")
			requireAPIError(t, err, api.CodeInternal, "cannot write the cluster state", "nothing changed")
			time.Sleep(time.Second)
			checkClusterFormed(t, n1, n2, n3)

			heal4 := fault.inject(t, cfg4.ControlDBPath)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = n4.Register(ctx, "127.0.0.1", n2.Config().InternalPort)
			requireAPIError(t, err, api.CodeInternal, "cannot write the cluster state", "does not join", "axoniq.axonserver.controldb-path")
			for _, n := range []*node.Node{n1, n2, n3} {
				require.NotContains(t, statuses(t, n), "n4")
			}

			heal1()
			heal4()
			require.NoError(t, client(n1).Unregister(context.Background(), "n3"))
			register(t, n4, n2)
			checkClusterFormed(t, n1, n2, n4)
		})
	}
}

// TestHealthSaysOnlyUpOrDownWithoutAToken: with access control on, health
// without a token is exactly {"status":"UP"} (200) or {"status":"DOWN"}
// (503); a token holder reads why; gRPC health checking follows.
func TestHealthSaysOnlyUpOrDownWithoutAToken(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "n1", tmpfsDir(t))
	cfg.AccessControl = node.AccessControlConfig{Enabled: true, Token: testToken}
	cfg.Cluster.EncryptionKey = newGossipKey(t)
	n := runNode(t, cfg)
	grpcHealth := func() healthpb.HealthCheckResponse_ServingStatus {
		resp, err := healthpb.NewHealthClient(dialClientPort(t, n)).Check(context.Background(), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		return resp.GetStatus()
	}

	status, _, body := healthOf(t, n, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, `{"status":"UP"}`, body)
	_, h, _ := healthOf(t, n, testToken)
	require.Equal(t, "1 of 1 registered nodes alive", h.Details["gossip"])

	heal := diskFaults[0].inject(t, cfg.ControlDBPath)
	waitHealth(t, n, http.StatusServiceUnavailable)
	status, _, body = healthOf(t, n, "")
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, `{"status":"DOWN"}`, body)
	_, _, body = healthOf(t, n, "wrong")
	require.Equal(t, `{"status":"DOWN"}`, body)
	_, h, _ = healthOf(t, n, testToken)
	require.Contains(t, h.Details["disk"], "no space left on device")
	eventually(t, 5*time.Second, "gRPC health NOT_SERVING", func() bool {
		return grpcHealth() == healthpb.HealthCheckResponse_NOT_SERVING
	})

	heal()
	waitHealth(t, n, http.StatusOK)
	_, _, body = healthOf(t, n, "")
	require.Equal(t, `{"status":"UP"}`, body)
	eventually(t, 5*time.Second, "gRPC health SERVING", func() bool {
		return grpcHealth() == healthpb.HealthCheckResponse_SERVING
	})
}
