package gossip

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestJoinWithoutModeIsRefused checks that a join whose mode was left
// unset fails before it reaches the contact, and that the node stays alone.
func TestJoinWithoutModeIsRefused(t *testing.T) {
	s := newSimWith(t, 2, localProfile())
	t.Cleanup(s.close)
	a, b := s.nodes[0], s.nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := b.c.JoinVia(ctx, a.addr, JoinOptions{})
	require.ErrorContains(t, err, "join mode 0 is not one of the JoinMode constants")
	require.Len(t, b.c.Members(), 1, "b joined without a mode")
	require.Len(t, a.c.Members(), 1, "a learnt of b")
}
