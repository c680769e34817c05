package node

import (
	"errors"
	"strconv"

	"github.com/rosterhq/roster/gossip"
)

// Property names gossip's errors are about.
const (
	keyClusterName   = "axoniq.axonserver.cluster.name"
	keyControlDBPath = "axoniq.axonserver.controldb-path"
)

// metaProperties names the property that sets each part of the node's
// gossip metadata; the rest is the node's own.
var metaProperties = map[gossip.MetaField]string{
	gossip.MetaClientHost:   keyHostname + " + domain",
	gossip.MetaInternalHost: keyInternalHostname + " + internal-domain",
	gossip.MetaGRPCPort:     "axoniq.axonserver.port",
	gossip.MetaHTTPPort:     "server.port",
	gossip.MetaInternalPort: "axoniq.axonserver.internal-port",
}

// settingsError words gossip's errors about the node's configuration with
// the properties that set it; other errors are returned as they are. The
// result still wraps err.
func settingsError(err error) error {
	var (
		dir  *gossip.DataDirError
		meta *gossip.MetaSizeError
	)
	switch {
	case errors.As(err, &dir) && dir.Of == "cluster":
		return &reworded{err: err, msg: "gossip: " + dir.Dir + " holds the state of cluster " + strconv.Quote(dir.Saved) +
			", but " + keyClusterName + " is " + strconv.Quote(dir.Configured) + ": " + gossip.ErrClusterName.Error()}
	case errors.As(err, &dir):
		return &reworded{err: err, msg: "gossip: " + dir.Dir + " holds the state of node " + strconv.Quote(dir.Saved) +
			", but " + keyName + " is " + strconv.Quote(dir.Configured) + "; use another " + keyControlDBPath + " for another node"}
	case errors.As(err, &meta):
		return &reworded{err: err, msg: "gossip: " + meta.Describe(metaProperty)}
	}
	return err
}

// metaProperty names the property that sets a part of the metadata.
func metaProperty(p gossip.MetaPart) string {
	if p.Field == gossip.MetaTag {
		return tagPrefix + p.Tag
	}
	if name, ok := metaProperties[p.Field]; ok {
		return name
	}
	return string(p.Field)
}

// reworded is err told in other words.
type reworded struct {
	msg string
	err error
}

func (e *reworded) Error() string { return e.msg }

func (e *reworded) Unwrap() error { return e.err }
