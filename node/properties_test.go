package node

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPropertiesParser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want map[string]any
	}{
		{
			name: "hash and bang comments",
			in:   "# a comment\n! another comment\na.b=1\n   # indented comment\n",
			want: map[string]any{"a.b": "1"},
		},
		{
			name: "separators",
			in:   "eq=1\ncolon:2\nspace 3\nspaced  =  4\ncolonspaced : 5\ntab\t6\n",
			want: map[string]any{"eq": "1", "colon": "2", "space": "3", "spaced": "4", "colonspaced": "5", "tab": "6"},
		},
		{
			name: "continued lines",
			in:   "axoniq.axonserver.accesscontrol.token=abc\\\n    def\\\n  ghi\nnext=x\n",
			want: map[string]any{"axoniq.axonserver.accesscontrol.token": "abcdefghi", "next": "x"},
		},
		{
			name: "unicode escapes",
			in:   "axoniq.axonserver.name=n\\u00f8de\\u002d1\n",
			want: map[string]any{"axoniq.axonserver.name": "nøde-1"},
		},
		{
			name: "no ${} expansion",
			in:   "a=${b}\nb=x\nc=${undefined}\nd=${d}\n",
			want: map[string]any{"a": "${b}", "b": "x", "c": "${undefined}", "d": "${d}"},
		},
		{
			name: "empty value is kept",
			in:   "axoniq.axonserver.domain=\n",
			want: map[string]any{"axoniq.axonserver.domain": ""},
		},
		{
			name: "later duplicate wins",
			in:   "server.port=1\nserver.port=2\n",
			want: map[string]any{"server.port": "2"},
		},
		{
			name: "dotted keys stay flat",
			in:   "axoniq.axonserver.name=x\naxoniq.axonserver.cluster.name=y\n",
			want: map[string]any{"axoniq.axonserver.name": "x", "axoniq.axonserver.cluster.name": "y"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := propertiesParser{}.Unmarshal([]byte(tt.in))
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestPropertiesRoundTrip(t *testing.T) {
	t.Parallel()
	in := map[string]any{"a.b": "x y", "c": "${d}", "e": "ü=:#"}
	b, err := propertiesParser{}.Marshal(in)
	require.NoError(t, err)
	out, err := propertiesParser{}.Unmarshal(b)
	require.NoError(t, err)
	require.Equal(t, in, out)
}

func TestYAMLParserFlattens(t *testing.T) {
	t.Parallel()
	in := `
axoniq:
  axonserver:
    name: node1
    port: 8125
    domain:
    ssl:
      enabled: true
    cluster.gossip-profile: wan
server:
  port: 8025
list:
  - a
  - b
`
	got, err := yamlParser{}.Unmarshal([]byte(in))
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"axoniq.axonserver.name":                   "node1",
		"axoniq.axonserver.port":                   "8125",
		"axoniq.axonserver.domain":                 "",
		"axoniq.axonserver.ssl.enabled":            "true",
		"axoniq.axonserver.cluster.gossip-profile": "wan",
		"server.port":                              "8025",
		"list[0]":                                  "a",
		"list[1]":                                  "b",
	}, got)

	b, err := yamlParser{}.Marshal(map[string]any{"server.port": "8025"})
	require.NoError(t, err)
	back, err := yamlParser{}.Unmarshal(b)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"server.port": "8025"}, back)
}

func TestParsersRejectMalformed(t *testing.T) {
	t.Parallel()
	_, err := yamlParser{}.Unmarshal([]byte("a: [1, 2\n"))
	require.Error(t, err)
	_, err = propertiesParser{}.Unmarshal([]byte("a=\\u12zz\n"))
	require.Error(t, err)
}
