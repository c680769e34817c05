package gossip

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/memberlist"
)

// NodeInfo is what a node advertises about itself to the cluster, carried
// in memberlist's node metadata (at most memberlist.MetaMaxSize bytes).
type NodeInfo struct {
	// ID is random per data directory: it tells a restarted node (same id)
	// from another node that uses the same name (new id).
	ID           string `json:"id"`
	ClientHost   string `json:"clientHost"`
	GRPCPort     int    `json:"grpcPort"`
	HTTPPort     int    `json:"httpPort"`
	InternalHost string `json:"internalHost"`
	InternalPort int    `json:"internalPort"`
	Version      string `json:"version"`
	// Clients is the number of client applications connected to the node's
	// platform stream, updated at most every few seconds.
	Clients int `json:"clients"`
	// NodeTags are the node's placement tags
	// (axoniq.axonserver.tags.<name>=<value>), matched against the tags
	// clients send.
	NodeTags TagSet `json:"tags,omitempty"`
	// Draining is set while the node stops: peers stop placing clients on
	// it before it asks its own clients to move.
	Draining bool `json:"draining,omitempty"`
	// Boot is new every time the node process starts: a node killed and
	// started again faster than failure detection shows no other change,
	// yet its clients went elsewhere and should come back.
	Boot string `json:"boot,omitempty"`
}

// Tag keys are one letter to keep metadata small: the same bytes ride on
// every alive message and every push-pull entry.
const (
	tagID           = "i"
	tagClientHost   = "h"
	tagGRPCPort     = "g"
	tagHTTPPort     = "w"
	tagInternalHost = "n" // omitted when equal to the client host
	tagInternalPort = "p"
	tagVersion      = "v"
	tagClients      = "c" // omitted when zero
	tagDraining     = "d" // "1" while the node stops; omitted otherwise
	tagBoot         = "b" // omitted when empty
	// tagNodeTag prefixes each placement tag's name: "#region" = "eu".
	tagNodeTag = "#"
)

// tagLabels names each tag by the property that sets it, for the metadata
// size error.
var tagLabels = map[string]string{
	tagID:           "node id",
	tagClientHost:   "axoniq.axonserver.hostname + domain",
	tagInternalHost: "axoniq.axonserver.internal-hostname + internal-domain",
	tagVersion:      "version",
	tagGRPCPort:     "axoniq.axonserver.port",
	tagHTTPPort:     "server.port",
	tagInternalPort: "axoniq.axonserver.internal-port",
	tagClients:      "client count",
	tagDraining:     "draining flag",
	tagBoot:         "boot id",
}

// label names a metadata key by the property that sets it.
func label(key string) string {
	if name, ok := strings.CutPrefix(key, tagNodeTag); ok {
		return TagProperty + name
	}
	return tagLabels[key]
}

// Tags encodes info as serf tags.
func (i NodeInfo) Tags() map[string]string {
	t := map[string]string{
		tagID:           i.ID,
		tagClientHost:   i.ClientHost,
		tagGRPCPort:     strconv.Itoa(i.GRPCPort),
		tagHTTPPort:     strconv.Itoa(i.HTTPPort),
		tagInternalPort: strconv.Itoa(i.InternalPort),
		tagVersion:      i.Version,
	}
	if i.InternalHost != i.ClientHost {
		t[tagInternalHost] = i.InternalHost
	}
	if i.Clients > 0 {
		t[tagClients] = strconv.Itoa(i.Clients)
	}
	if i.Draining {
		t[tagDraining] = "1"
	}
	if i.Boot != "" {
		t[tagBoot] = i.Boot
	}
	for name, value := range i.NodeTags.Map() {
		t[tagNodeTag+name] = value
	}
	return t
}

// DecodeTags reads NodeInfo from serf tags. It never panics on hostile
// input: every problem is an error naming the tag.
func DecodeTags(t map[string]string) (NodeInfo, error) {
	var i NodeInfo
	var err error
	port := func(key string) int {
		if err != nil {
			return 0
		}
		v, ok := t[key]
		if !ok {
			err = fmt.Errorf("gossip: node metadata lacks %s", tagLabels[key])
			return 0
		}
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 || n > 65535 {
			err = fmt.Errorf("gossip: node metadata has invalid %s %q", tagLabels[key], v)
			return 0
		}
		return n
	}
	i.ID = t[tagID]
	i.ClientHost = t[tagClientHost]
	i.InternalHost = t[tagInternalHost]
	if i.InternalHost == "" {
		i.InternalHost = i.ClientHost
	}
	i.Version = t[tagVersion]
	i.Boot = t[tagBoot]
	i.GRPCPort = port(tagGRPCPort)
	i.HTTPPort = port(tagHTTPPort)
	i.InternalPort = port(tagInternalPort)
	if c, ok := t[tagClients]; ok && err == nil {
		n, cerr := strconv.Atoi(c)
		if cerr != nil || n < 0 {
			err = fmt.Errorf("gossip: node metadata has invalid client count %q", c)
		}
		i.Clients = n
	}
	if d, ok := t[tagDraining]; ok && err == nil {
		if d != "1" {
			err = fmt.Errorf("gossip: node metadata has invalid draining flag %q", d)
		}
		i.Draining = true
	}
	if err == nil {
		i.NodeTags, err = nodeTagsOf(t)
	}
	if err == nil && (i.ID == "" || i.ClientHost == "") {
		err = fmt.Errorf("gossip: node metadata lacks node id or client host")
	}
	if err != nil {
		return NodeInfo{}, err
	}
	return i, nil
}

// tagMagicByte prefixes serf's msgpack-encoded tags (serf's own constant).
const tagMagicByte byte = 255

// encodeMeta encodes tags as serf does into memberlist's node metadata.
func encodeMeta(tags map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(tagMagicByte)
	if err := codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(tags); err != nil {
		return nil, fmt.Errorf("gossip: encode node metadata: %w", err)
	}
	return buf.Bytes(), nil
}

// encodedSize is the size serf's encoding of tags will have.
func encodedSize(tags map[string]string) (int, error) {
	b, err := encodeMeta(tags)
	return len(b), err
}

// CheckMetaSize refuses metadata that would not fit memberlist's limit and
// names what takes the room: the long values, longest first, and every
// placement tag.
func (i NodeInfo) CheckMetaSize() error {
	tags := i.Tags()
	// Leave room for what is added at run time: a client count of up to 7
	// digits and the draining flag.
	tags[tagClients] = "9999999"
	tags[tagDraining] = "1"
	size, err := encodedSize(tags)
	if err != nil {
		return err
	}
	if size <= memberlist.MetaMaxSize {
		return nil
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		la, lb := len(keys[a])+len(tags[keys[a]]), len(keys[b])+len(tags[keys[b]])
		if la != lb {
			return la > lb
		}
		return keys[a] < keys[b]
	})
	var parts []string
	tagBytes := 0
	for _, k := range keys {
		if strings.HasPrefix(k, tagNodeTag) {
			n := len(k) - len(tagNodeTag) + len(tags[k])
			tagBytes += n
			parts = append(parts, fmt.Sprintf("%s is %d bytes", label(k), n))
			continue
		}
		if len(tags[k]) >= 32 {
			parts = append(parts, fmt.Sprintf("%s is %d bytes", label(k), len(tags[k])))
		}
	}
	advice := "use shorter host names"
	if tagBytes > 0 {
		advice = fmt.Sprintf("use shorter host names or fewer or shorter tags (names and values take %d bytes)", tagBytes)
	}
	return fmt.Errorf("gossip: node metadata would be %d bytes, over memberlist's limit of %d: %s; %s",
		size, memberlist.MetaMaxSize, strings.Join(parts, ", "), advice)
}
