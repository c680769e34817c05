package node

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSizeCaps checks the caps sized from the file descriptor limit (the
// figures docs/configuration.md gives): together they leave at least a
// quarter of the limit free, and configured caps are kept as they are.
func TestSizeCaps(t *testing.T) {
	for _, tt := range []struct {
		limit uint64
		want  portCaps
	}{
		{1024, portCaps{http: 128, grpc: 320, internal: 64}},
		{4096, portCaps{http: 768, grpc: 1920, internal: 384}},
		{20000, portCaps{http: 2048, grpc: 8192, internal: 1024}},
		{65536, portCaps{http: 2048, grpc: 8192, internal: 1024}},
		{1 << 40, portCaps{http: 2048, grpc: 8192, internal: 1024}},
		{64, portCaps{http: capFloor, grpc: capFloor, internal: capFloor}},
	} {
		got := sizeCaps(defaultLimits(), tt.limit)
		require.Equal(t, tt.want, got, "limit %d", tt.limit)
		if tt.limit >= 1024 {
			require.LessOrEqual(t, uint64(got.http+got.grpc+got.internal), tt.limit*3/4, "limit %d", tt.limit)
		}
	}
	l := defaultLimits()
	l.HTTPMaxConnections, l.GRPCMaxConnections, l.InternalMaxConnections = 10, 20, 30
	require.Equal(t, portCaps{http: 10, grpc: 20, internal: 30}, sizeCaps(l, 20000))
}
