package api

import "time"

// Node is one registered node as the REST API shows it. The first seven
// fields are Axon Server's (GET /v1/public); the rest are roster's own.
type Node struct {
	Name             string            `json:"name" doc:"Node name, unique in the cluster."`
	HostName         string            `json:"hostName" doc:"Address clients are told to use (hostname.domain)."`
	GrpcPort         int               `json:"grpcPort" doc:"Client gRPC port."`
	HTTPPort         int               `json:"httpPort" doc:"HTTP port (REST API, dashboard)."`
	InternalHostName string            `json:"internalHostName" doc:"Address other nodes use (internal-hostname.internal-domain)."`
	GrpcInternalPort int               `json:"grpcInternalPort" doc:"Internal port: gossip (UDP+TCP) and internal gRPC."`
	Connected        bool              `json:"connected" doc:"True only while the node is alive."`
	Status           string            `json:"status" enum:"alive,suspect,failed,left" doc:"Membership status as this node sees it."`
	Since            time.Time         `json:"since" doc:"When the status last changed."`
	Version          string            `json:"version,omitempty" doc:"roster version the node runs."`
	Clients          int               `json:"clients" doc:"Client applications connected to the node's platform stream, as last known."`
	Tags             map[string]string `json:"tags" doc:"Placement tags (axoniq.axonserver.tags.<name>=<value>), as in Axon Server EE: a client is placed on the node with the most tags matching its own."`
	Draining         bool              `json:"draining,omitempty" doc:"True while the node stops: it is placed on no client."`
}

// ClusterNode is one node as GET /v1/cluster shows it: Axon Server EE's
// fields, where the internal port is internalGrpcPort, plus the Node ones.
type ClusterNode struct {
	Node
	InternalGrpcPort int `json:"internalGrpcPort" doc:"Internal port (Axon Server EE's name for it here; grpcInternalPort has the same value)."`
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
	// Axon Server's other /v1/public/me fields, with the values that
	// describe roster: every node administers the cluster, and clients are
	// served as Axon Server SE serves its one context, default.
	AdminNode           bool     `json:"adminNode" doc:"Always true: every roster node administers the cluster (Axon EE: member of _admin)."`
	DevelopmentMode     bool     `json:"developmentMode" doc:"Always false: roster has no development mode."`
	ContextNames        []string `json:"contextNames" doc:"Always [\"default\"]: roster has no contexts and serves every client as Axon Server SE serves its default context."`
	StorageContextNames []string `json:"storageContextNames" doc:"Always [\"default\"], as contextNames."`
	PluginsEnabled      bool     `json:"pluginsEnabled" doc:"Always false: roster has no plugins."`
	Initialized         bool     `json:"initialized" doc:"Always true: a roster node needs no initialisation step."`
}

// DefaultContext is the context name Axon clients use by default; roster
// has no contexts and reports this one.
const DefaultContext = "default"

// JoinRequest is the body of POST /v1/cluster: the node to join through.
// Note Axon's field name internalGrpcPort here, grpcInternalPort in responses.
type JoinRequest struct {
	InternalHostName string `json:"internalHostName" minLength:"1" maxLength:"253" doc:"Internal host name or IP of a node already in the cluster."`
	InternalGrpcPort int    `json:"internalGrpcPort,omitempty" minimum:"1" maximum:"65535" default:"8224" doc:"Internal port of that node."`
	// Axon Server's CLI posts every property of its ClusterNode, null
	// where unset; they are accepted and ignored (roster has no contexts,
	// and the other ones describe a node in answers). Other unknown fields
	// are refused, which catches the grpcInternalPort/internalGrpcPort
	// mix-up.
	Name       *string `json:"name,omitempty" nullable:"true" maxLength:"253" doc:"Sent by Axon Server's CLI (null); ignored."`
	HostName   *string `json:"hostName,omitempty" nullable:"true" maxLength:"253" doc:"Sent by Axon Server's CLI (null); ignored."`
	GrpcPort   *int    `json:"grpcPort,omitempty" nullable:"true" doc:"Sent by Axon Server's CLI (null); ignored."`
	HTTPPort   *int    `json:"httpPort,omitempty" nullable:"true" doc:"Sent by Axon Server's CLI (null); ignored."`
	Connected  *bool   `json:"connected,omitempty" nullable:"true" doc:"Sent by Axon Server's CLI (false); ignored."`
	Master     *bool   `json:"master,omitempty" nullable:"true" doc:"Sent by Axon Server's CLI (false); ignored."`
	Context    *string `json:"context,omitempty" nullable:"true" maxLength:"253" doc:"Axon Server EE's context to join; ignored (roster has no contexts)."`
	NoContexts *bool   `json:"noContexts,omitempty" nullable:"true" doc:"Axon Server EE's join-no-context flag; ignored."`
}

// JoinResponse is the 202 body of POST /v1/cluster, Axon Server EE's
// RestResponse: Axon's CLI reads exactly these two properties.
type JoinResponse struct {
	Success bool   `json:"success" doc:"True: the node joined."`
	Message string `json:"message" doc:"Axon Server EE's words for it."`
}

// JoinAccepted is JoinResponse's message, Axon Server EE's. roster answers
// once joined, so the "while" has passed by then.
const JoinAccepted = "Accepted join request, may take a while to process"

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
