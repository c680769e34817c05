//go:build unix

package gossip

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJoinTellsEveryMemberItself: with probes (which carry gossip too),
// gossip and anti-entropy slowed to a minute, only the join's own
// push-pulls can tell the members of a new node. A cluster that forms and
// a last join that every member records show that each member merged the
// joining node's state, though the joining node never read their answers.
func TestJoinTellsEveryMemberItself(t *testing.T) {
	profile, err := ProfileByName("lan")
	require.NoError(t, err)
	profile.ProbeInterval = time.Minute
	profile.GossipInterval = time.Minute
	profile.PushPullInterval = time.Minute
	sim := newSimWith(t, 6, profile)
	t.Cleanup(sim.close)

	join := func(nd *simNode) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := nd.c.JoinVia(ctx, sim.nodes[0].addr, JoinOptions{Mode: JoinRegister})
		require.NoError(t, err, nd.c.cfg.Name)
	}
	for _, nd := range sim.nodes[1:5] {
		join(nd)
	}
	last := sim.nodes[5]
	join(last)
	name := last.c.cfg.Name
	waitFor(t, sim.nodes[:5], 5*time.Second, func(c *Cluster) bool {
		m, ok := c.Member(name)
		return ok && m.Status == StatusAlive && countStatus(c, StatusAlive) == 6
	})
}

// loopbackPair is a connected TCP pair on loopback.
func loopbackPair(t *testing.T) (dialled, accepted net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	dialled, err = net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	accepted, err = l.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { _ = dialled.Close(); _ = accepted.Close() })
	return dialled, accepted
}

func TestFanoutConnWaitsForTheAnswerThenDrainsIt(t *testing.T) {
	dialled, member := loopbackPair(t)
	c := &fanoutConn{Conn: dialled}

	// The member reads the announcement, answers with more than the
	// sockets buffer, and only then takes its next step (the merge).
	answer := make([]byte, 4<<20)
	merged := make(chan error, 1)
	go func() {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(member, buf); err != nil {
			merged <- err
			return
		}
		_, err := member.Write(answer)
		_ = member.Close()
		merged <- err
	}()

	_, err := c.Write([]byte("hello"))
	require.NoError(t, err)
	n, err := c.Read(make([]byte, 64))
	assert.Zero(t, n)
	require.ErrorIs(t, err, errFanoutAnswered)
	require.NoError(t, c.Close())
	select {
	case err := <-merged:
		require.NoError(t, err, "the member's whole answer is read, so its write succeeds")
	case <-time.After(10 * time.Second):
		t.Fatal("Close returned but the member is still writing")
	}
}

func TestFanoutConnMemberThatHangsUpHasNotAnswered(t *testing.T) {
	dialled, member := loopbackPair(t)
	c := &fanoutConn{Conn: dialled}
	require.NoError(t, member.Close())
	_, err := c.Read(make([]byte, 64))
	require.ErrorIs(t, err, io.EOF)
	assert.NotErrorIs(t, err, errFanoutAnswered)
	require.NoError(t, c.Close())
}

func TestFanoutTargetsAreTheOnlyMarkedDials(t *testing.T) {
	target := fanoutTarget("node-7", "127.0.0.1:8224")
	assert.Equal(t, "join-fanout:node-7/127.0.0.1:8224", target)
	// memberlist's Join takes what is before the '/' as the node name.
	assert.True(t, isFanoutDial("join-fanout:node-7"))
	assert.False(t, isFanoutDial("node-7"), "memberlist's own dials carry the member's name")
	assert.False(t, isFanoutDial(""))
}
