package cli

import (
	"fmt"

	gometrics "github.com/hashicorp/go-metrics"
	gometricsprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// installGossipMetrics sends memberlist's and serf's own metrics (probe
// times, gossip traffic, queue depths, ...) to reg, as roster_memberlist_*
// and roster_serf_*.
//
// Both libraries report through go-metrics, whose sink is process-global:
// library code (package node) cannot give each node its own, and tests run
// several nodes in one process. So only the server command, which runs one
// node per process, installs it, pointing it at that node's registry; in
// tests the libraries' metrics go to go-metrics' default, nowhere.
func installGossipMetrics(reg prometheus.Registerer) error {
	sink, err := gometricsprom.NewPrometheusSinkFrom(gometricsprom.PrometheusOpts{
		Name:       "roster_gossip_library_sink",
		Registerer: reg,
		// The libraries' metric names are few and fixed: keep them all
		// rather than let an idle counter vanish (and restart at zero).
		Expiration: 0,
	})
	if err != nil {
		return fmt.Errorf("server: register memberlist metrics: %w", err)
	}
	conf := gometrics.DefaultConfig("roster")
	conf.EnableHostname = false       // the scrape target says which host
	conf.EnableRuntimeMetrics = false // the Go collector reports these
	if _, err := gometrics.NewGlobal(conf, sink); err != nil {
		return fmt.Errorf("server: install memberlist metrics: %w", err)
	}
	return nil
}
