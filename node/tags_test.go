package node

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

func TestLoadTags(t *testing.T) {
	t.Parallel()
	t.Run("properties file, relaxed prefix, no warning", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"axonserver.properties": "axoniq.axonserver.tags.region=eu-west\n" +
			"axoniq.axonserver.tags.Zone= b \naxoniq.axonserver.Tags.tier=gold\n"})
		cfg, warnings, err := load(t, dir, fakeEnv{})
		require.NoError(t, err)
		require.Empty(t, warnings)
		require.Equal(t, map[string]string{"region": "eu-west", "Zone": "b", "tier": "gold"}, cfg.Tags)
	})
	t.Run("yaml", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"axonserver.yml": "axoniq:\n  axonserver:\n    tags:\n      region: us\n      rack: r1\n"})
		cfg, warnings, err := load(t, dir, fakeEnv{})
		require.NoError(t, err)
		require.Empty(t, warnings)
		require.Equal(t, map[string]string{"region": "us", "rack": "r1"}, cfg.Tags)
	})
	t.Run("environment wins, by Spring's rule for map keys", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"axonserver.properties": "axoniq.axonserver.tags.region=eu\n"})
		cfg, warnings, err := load(t, dir, fakeEnv{"AXONIQ_AXONSERVER_TAGS_REGION": "us", "AXONIQ_AXONSERVER_TAGS_AVAILABILITY_ZONE": "z1"})
		require.NoError(t, err)
		require.Empty(t, warnings, "tag variables are not unknown variables")
		require.Equal(t, map[string]string{"region": "us", "availability.zone": "z1"}, cfg.Tags)
	})
	t.Run("none", func(t *testing.T) {
		cfg, _, err := load(t, t.TempDir(), fakeEnv{})
		require.NoError(t, err)
		require.Empty(t, cfg.Tags)
	})
	t.Run("invalid names and values stop start-up, naming the key", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"axonserver.properties": "axoniq.axonserver.tags.bad\\u0020name=x\n" +
			"axoniq.axonserver.tags.ok=" + strings.Repeat("v", 129) + "\n"})
		_, _, err := load(t, dir, fakeEnv{})
		require.Error(t, err)
		require.Contains(t, err.Error(), `config: axoniq.axonserver.tags.bad name: "x" has an invalid tag name`)
		require.Contains(t, err.Error(), "config: axoniq.axonserver.tags.ok:")
		require.Contains(t, err.Error(), "at most 128 printable characters")
	})
}

// TestTagsOverTheMetadataBudgetAreRefusedAtStart: tags share memberlist's
// 512 bytes of node metadata; a node whose tags do not fit does not start,
// and says which keys take the room.
func TestTagsOverTheMetadataBudgetAreRefusedAtStart(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Name = "n1"
	cfg.ClientHost, cfg.InternalHost, cfg.BindAddress = "127.0.0.1", "127.0.0.1", "127.0.0.1"
	cfg.Port, cfg.InternalPort, cfg.HTTPPort = 0, 0, 0
	cfg.ControlDBPath = t.TempDir()
	cfg.Cluster.GossipProfile = "local"
	cfg.Tags = map[string]string{}
	for i := range 12 {
		cfg.Tags[fmt.Sprintf("tag%02d", i)] = strings.Repeat("x", 40)
	}
	n, err := Start(context.Background(), cfg, Options{Logger: zerolog.Nop()})
	if err == nil {
		n.Kill()
		t.Fatal("a node with 12 tags of 40 bytes started")
	}
	require.Contains(t, err.Error(), "over memberlist's limit of 512")
	require.Contains(t, err.Error(), "axoniq.axonserver.tags.tag00 is 45 bytes")
	require.Contains(t, err.Error(), "fewer or shorter tags")
}
