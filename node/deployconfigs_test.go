package node_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/rosterhq/roster/node"
)

// The deployment files in configs/ use the node's real keys, ports, paths
// and metric names, so they cannot drift from the code unnoticed.

// knownEnv maps every configuration key's environment variable to its key.
func knownEnv() map[string]string {
	out := map[string]string{}
	for _, k := range node.KnownKeys() {
		out[k.Env] = k.Key
	}
	return out
}

// k8sObject holds the parts of the manifests the test checks.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		ClusterIP   string `yaml:"clusterIP"`
		ServiceName string `yaml:"serviceName"`
		Ports       []struct {
			Port     int    `yaml:"port"`
			Protocol string `yaml:"protocol"`
		} `yaml:"ports"`
		Template struct {
			Spec struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				Containers                    []struct {
					Env []struct {
						Name  string `yaml:"name"`
						Value string `yaml:"value"`
					} `yaml:"env"`
					Ports []struct {
						ContainerPort int    `yaml:"containerPort"`
						Protocol      string `yaml:"protocol"`
					} `yaml:"ports"`
					ReadinessProbe probe `yaml:"readinessProbe"`
					LivenessProbe  probe `yaml:"livenessProbe"`
					VolumeMounts   []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

func TestKubernetesManifest(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../configs/kubernetes/roster.yaml")
	require.NoError(t, err)
	objects := map[string]k8sObject{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		objects[o.Kind] = o
	}

	svc, ok := objects["Service"]
	require.True(t, ok, "a Service")
	assert.Equal(t, "None", svc.Spec.ClusterIP, "headless")
	var svcPorts []string
	for _, p := range svc.Spec.Ports {
		svcPorts = append(svcPorts, strings.ToLower(p.Protocol)+"/"+strconv.Itoa(p.Port))
	}
	assert.ElementsMatch(t, []string{"tcp/8024", "tcp/8124", "tcp/8224", "udp/8224"}, svcPorts)

	sts, ok := objects["StatefulSet"]
	require.True(t, ok, "a StatefulSet")
	assert.Equal(t, svc.Metadata.Name, sts.Spec.ServiceName, "pods get DNS names from the headless service")
	require.Len(t, sts.Spec.Template.Spec.Containers, 1)
	c := sts.Spec.Template.Spec.Containers[0]

	var ports []string
	for _, p := range c.Ports {
		ports = append(ports, strings.ToLower(p.Protocol)+"/"+strconv.Itoa(p.ContainerPort))
	}
	assert.ElementsMatch(t, svcPorts, ports)

	known := knownEnv()
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if strings.HasPrefix(e.Name, "AXONIQ_") {
			assert.Contains(t, known, e.Name, "a configuration key")
		}
	}
	assert.Equal(t, "$(POD_NAME)", env["AXONIQ_AXONSERVER_NAME"])
	assert.Equal(t, "$(POD_NAME)", env["AXONIQ_AXONSERVER_HOSTNAME"])
	assert.Equal(t, "$(POD_NAME)", env["AXONIQ_AXONSERVER_INTERNAL_HOSTNAME"])
	dns := svc.Metadata.Name + ".$(POD_NAMESPACE).svc.cluster.local"
	assert.Equal(t, dns, env["AXONIQ_AXONSERVER_DOMAIN"])
	assert.Equal(t, dns, env["AXONIQ_AXONSERVER_INTERNAL_DOMAIN"])
	assert.Equal(t, sts.Metadata.Name+"-0."+dns+":8224", env["AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST"], "pod 0's DNS name")

	for _, p := range []probe{c.ReadinessProbe, c.LivenessProbe} {
		assert.Equal(t, "/actuator/health", p.HTTPGet.Path)
		assert.Equal(t, "http", p.HTTPGet.Port)
	}
	require.Len(t, sts.Spec.VolumeClaimTemplates, 1)
	claim := sts.Spec.VolumeClaimTemplates[0].Metadata.Name
	mounted := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounted[m.Name] = m.MountPath
	}
	assert.Equal(t, env["AXONIQ_AXONSERVER_CONTROLDB_PATH"], mounted[claim], "the state is on the claimed volume")

	shutdown, err := time.ParseDuration(env["AXONIQ_AXONSERVER_CLUSTER_SHUTDOWN_TIMEOUT"])
	require.NoError(t, err)
	assert.Greater(t, time.Duration(sts.Spec.Template.Spec.TerminationGracePeriodSeconds)*time.Second, shutdown,
		"the pod is killed only after the node's own stop bound")
}

func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../configs/roster.service")
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	settings := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "key=value: %q", line)
		settings[k] = append(settings[k], v)
	}
	require.NoError(t, sc.Err())

	require.Len(t, settings["ExecStart"], 1)
	assert.Regexp(t, `^/\S+/roster server --config \S+$`, settings["ExecStart"][0])
	assert.Equal(t, []string{"on-failure"}, settings["Restart"])
	env := map[string]string{}
	known := knownEnv()
	for _, e := range settings["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		assert.Contains(t, known, k, "a configuration key")
		env[k] = v
	}
	assert.True(t, strings.HasPrefix(env["AXONIQ_AXONSERVER_CONTROLDB_PATH"], "/var/lib/"+settings["StateDirectory"][0]+"/"),
		"the state lives in the service's state directory")
	shutdown, err := time.ParseDuration(env["AXONIQ_AXONSERVER_CLUSTER_SHUTDOWN_TIMEOUT"])
	require.NoError(t, err)
	stop, err := time.ParseDuration(settings["TimeoutStopSec"][0])
	require.NoError(t, err)
	assert.Greater(t, stop, shutdown, "systemd kills only after the node's own stop bound")
}

// notInATestScrape matches metrics that only `roster server` exports
// (memberlist's and serf's, through the go-metrics sink) or that appear
// with their first occurrence (counter vectors without a series yet).
var notInATestScrape = regexp.MustCompile(`^roster_(memberlist|serf)_|^roster_gossip_dropped_total$|^roster_members_rejoin_attempts_total$`)

func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../configs/grafana-dashboard.json")
	require.NoError(t, err)
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			GridPos struct {
				X, W int
			} `json:"gridPos"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(data, &dash))
	assert.NotEmpty(t, dash.UID)

	ids := map[int]bool{}
	metrics := map[string]bool{}
	name := regexp.MustCompile(`\b((?:roster|go|process)_[A-Za-z0-9_]+)`)
	for _, p := range dash.Panels {
		assert.False(t, ids[p.ID], "panel id %d is unique", p.ID)
		ids[p.ID] = true
		assert.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, p.Title)
		if p.Type == "row" {
			continue
		}
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.Expr, p.Title)
			for _, m := range name.FindAllStringSubmatch(tg.Expr, -1) {
				metrics[m[1]] = true
			}
		}
	}

	// Every metric the dashboard queries is one a node exports.
	nodes := runCluster(t, 2)
	exported := scrape(t, nodes[0])
	for m := range metrics {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count"), "_sum")
		if notInATestScrape.MatchString(base) {
			continue
		}
		assert.Contains(t, exported, base, "the dashboard queries %s", m)
	}
}

// TestKubernetesPodsAdvertiseTheirServiceNames derives each pod's
// configuration from the manifest's environment, as Kubernetes expands it,
// and checks the topology it gives: every pod listens on all its
// addresses (its IP is not known ahead and changes when it is rescheduled)
// and advertises its DNS name under the headless Service; roster-0 is
// autocluster.first itself and knows it by name; the others join it by
// that name. (A node that reaches itself through an address it cannot
// recognise, a per-pod Service's IP say, finds out by its own answer.)
func TestKubernetesPodsAdvertiseTheirServiceNames(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../configs/kubernetes/roster.yaml")
	require.NoError(t, err)
	var sts k8sObject
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if o.Kind == "StatefulSet" {
			sts = o
		}
	}
	require.Len(t, sts.Spec.Template.Spec.Containers, 1)
	const namespace = "prod"
	for _, pod := range []string{sts.Metadata.Name + "-0", sts.Metadata.Name + "-1"} {
		vars := map[string]string{"POD_NAME": pod, "POD_NAMESPACE": namespace}
		expand := regexp.MustCompile(`\$\(([A-Z_]+)\)`)
		env := map[string]string{}
		for _, e := range sts.Spec.Template.Spec.Containers[0].Env {
			v := expand.ReplaceAllStringFunc(e.Value, func(m string) string { return vars[m[2:len(m)-1]] })
			env[e.Name] = v
		}
		cfg, _, err := node.LoadConfig(node.LoadOptions{
			WorkDir:   t.TempDir(),
			LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			Environ:   func() []string { return nil },
			Hostname:  func() (string, error) { return pod, nil },
		})
		require.NoError(t, err, pod)
		dns := pod + "." + sts.Spec.ServiceName + "." + namespace + ".svc.cluster.local"
		assert.Equal(t, pod, cfg.Name)
		assert.Equal(t, dns, cfg.InternalHost, "%s advertises its DNS name to nodes", pod)
		assert.Equal(t, dns, cfg.ClientHost, "%s advertises its DNS name to clients", pod)
		assert.Equal(t, "0.0.0.0", cfg.BindAddress, "%s listens on every address it has", pod)
		first := sts.Metadata.Name + "-0." + sts.Spec.ServiceName + "." + namespace + ".svc.cluster.local:8224"
		assert.Equal(t, first, cfg.AutoclusterFirst)
		if strings.HasSuffix(pod, "-0") {
			assert.Equal(t, first, cfg.InternalHost+":"+strconv.Itoa(cfg.InternalPort), "roster-0 is autocluster.first and sees it by name")
		}
	}
}
