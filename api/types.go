package api

import "time"

// Node is one registered node as the REST API shows it. The first seven
// fields are Axon Server's (GET /v1/public); the rest are roster's own.
type Node struct {
	Name             string    `json:"name" doc:"Node name, unique in the cluster."`
	HostName         string    `json:"hostName" doc:"Address clients are told to use (hostname.domain)."`
	GrpcPort         int       `json:"grpcPort" doc:"Client gRPC port."`
	HTTPPort         int       `json:"httpPort" doc:"HTTP port (REST API, dashboard)."`
	InternalHostName string    `json:"internalHostName" doc:"Address other nodes use (internal-hostname.internal-domain)."`
	GrpcInternalPort int       `json:"grpcInternalPort" doc:"Internal port: gossip (UDP+TCP) and internal gRPC."`
	Connected        bool      `json:"connected" doc:"True only while the node is alive."`
	Status           string    `json:"status" enum:"alive,suspect,failed,left" doc:"Membership status as this node sees it."`
	Since            time.Time `json:"since" doc:"When the status last changed."`
	Version          string    `json:"version,omitempty" doc:"roster version the node runs."`
	Clients          int       `json:"clients" doc:"Client applications connected to the node's platform stream, as last known."`
}

// Me is the answering node: the Node fields plus Axon's clustered,
// authentication and ssl flags, and roster's rejoin state.
type Me struct {
	Node
	Clustered      bool   `json:"clustered" doc:"True when the node is a member of a cluster of more than one node."`
	Authentication bool   `json:"authentication" doc:"True when access control is enabled."`
	SSL            bool   `json:"ssl" doc:"True when TLS is enabled."`
	ClusterName    string `json:"clusterName" doc:"Name of the gossip cluster (axoniq.axonserver.cluster.name)."`
	Rejoin         string `json:"rejoin,omitempty" doc:"Background rejoin state after a restart, empty when not rejoining."`
}

// JoinRequest is the body of POST /v1/cluster: the node to join through.
// Note Axon's field name internalGrpcPort here, grpcInternalPort in responses.
type JoinRequest struct {
	InternalHostName string `json:"internalHostName" minLength:"1" maxLength:"253" doc:"Internal host name or IP of a node already in the cluster."`
	InternalGrpcPort int    `json:"internalGrpcPort,omitempty" minimum:"1" maximum:"65535" default:"8224" doc:"Internal port of that node."`
	// Axon Server's CLI also sends these; roster has no contexts, so they
	// are accepted and ignored. Other unknown fields are refused, which
	// catches the grpcInternalPort/internalGrpcPort mix-up.
	Context    string `json:"context,omitempty" doc:"Accepted for compatibility with Axon Server's CLI; ignored (roster has no contexts)."`
	NoContexts bool   `json:"noContexts,omitempty" doc:"Accepted for compatibility with Axon Server's CLI; ignored."`
}

// Health is the body of GET /actuator/health (Spring Boot's shape).
type Health struct {
	Status  string            `json:"status" enum:"UP,DOWN" doc:"UP when the node serves requests."`
	Details map[string]string `json:"details,omitempty" doc:"Component states, and why the node is DOWN; only with a valid access token when access control is on."`
}

// Health statuses.
const (
	HealthUp   = "UP"
	HealthDown = "DOWN"
)
