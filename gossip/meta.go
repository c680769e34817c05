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
	// NodeTags are the node's placement tags, matched against the tags
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

// MetaField is a part of a node's metadata (NodeInfo), as errors name it.
type MetaField string

// The parts of NodeInfo's metadata.
const (
	MetaID           MetaField = "node id"
	MetaClientHost   MetaField = "client host"
	MetaInternalHost MetaField = "internal host"
	MetaVersion      MetaField = "version"
	MetaGRPCPort     MetaField = "gRPC port"
	MetaHTTPPort     MetaField = "HTTP port"
	MetaInternalPort MetaField = "internal port"
	MetaClients      MetaField = "client count"
	MetaDraining     MetaField = "draining flag"
	MetaBoot         MetaField = "boot id"
	MetaTag          MetaField = "placement tag"
)

// tagFields names each metadata key.
var tagFields = map[string]MetaField{
	tagID:           MetaID,
	tagClientHost:   MetaClientHost,
	tagInternalHost: MetaInternalHost,
	tagVersion:      MetaVersion,
	tagGRPCPort:     MetaGRPCPort,
	tagHTTPPort:     MetaHTTPPort,
	tagInternalPort: MetaInternalPort,
	tagClients:      MetaClients,
	tagDraining:     MetaDraining,
	tagBoot:         MetaBoot,
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
			err = fmt.Errorf("gossip: node metadata lacks the %s", tagFields[key])
			return 0
		}
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 || n > 65535 {
			err = fmt.Errorf("gossip: node metadata has an invalid %s %q", tagFields[key], v)
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

// CheckMetaSize refuses metadata that would not fit memberlist's limit
// with a *MetaSizeError that names what takes the room: the long values,
// longest first, and every placement tag.
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
	e := &MetaSizeError{Size: size, Max: memberlist.MetaMaxSize}
	for _, k := range keys {
		if name, ok := strings.CutPrefix(k, tagNodeTag); ok {
			n := len(name) + len(tags[k])
			e.TagBytes += n
			e.Parts = append(e.Parts, MetaPart{Field: MetaTag, Tag: name, Bytes: n})
			continue
		}
		if len(tags[k]) >= 32 {
			e.Parts = append(e.Parts, MetaPart{Field: tagFields[k], Bytes: len(tags[k])})
		}
	}
	return e
}

// MetaPart is a part of the metadata that takes room: a long value, or a
// placement tag (its name and value).
type MetaPart struct {
	Field MetaField
	Tag   string // the tag's name, for MetaTag
	Bytes int
}

// MetaSizeError is metadata over memberlist's limit.
type MetaSizeError struct {
	Size, Max int
	Parts     []MetaPart // longest first
	TagBytes  int        // what the placement tags take
}

func (e *MetaSizeError) Error() string {
	return "gossip: " + e.Describe(func(p MetaPart) string {
		if p.Field == MetaTag {
			return "placement tag " + p.Tag
		}
		return string(p.Field)
	})
}

// Describe says what is over the limit and what to do, naming each part
// with name: a caller names the settings that set them.
func (e *MetaSizeError) Describe(name func(MetaPart) string) string {
	parts := make([]string, len(e.Parts))
	for i, p := range e.Parts {
		parts[i] = fmt.Sprintf("%s is %d bytes", name(p), p.Bytes)
	}
	advice := "use shorter host names"
	if e.TagBytes > 0 {
		advice = fmt.Sprintf("use shorter host names or fewer or shorter tags (names and values take %d bytes)", e.TagBytes)
	}
	return fmt.Sprintf("node metadata would be %d bytes, over memberlist's limit of %d: %s; %s",
		e.Size, e.Max, strings.Join(parts, ", "), advice)
}
