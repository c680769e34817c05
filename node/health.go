package node

import (
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthPoll is how often gRPC health checking follows the node's
// condition (its data directory, gossip); /actuator/health reads it on
// every request.
const healthPoll = time.Second

// followHealth sets gRPC health checking NOT_SERVING while the node is
// DOWN for a fault of its membership layer, and SERVING again after,
// until the node stops.
func (n *Node) followHealth() {
	defer n.bg.Done()
	t := time.NewTicker(healthPoll)
	defer t.Stop()
	serving := true
	for {
		select {
		case <-n.bgStop:
			return
		case <-t.C:
		}
		cond := n.cluster.Condition()
		ok := cond.Disk == nil && cond.Gossip == nil
		if ok == serving {
			continue
		}
		serving = ok
		st := healthpb.HealthCheckResponse_SERVING
		if !ok {
			st = healthpb.HealthCheckResponse_NOT_SERVING
		}
		n.health.SetServingStatus("", st)
	}
}
