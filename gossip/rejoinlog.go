package gossip

// serfRejoinFailed is serf's warning after a restart when none of the
// nodes in its snapshot answered at the gossip address it last knew.
const serfRejoinFailed = "Failed to re-join any previously known node"

// rejoinAccount is what roster logs instead: what happens next.
const rejoinAccount = "gossip: no registered node answered at its last known gossip address; " +
	"the background rejoin now contacts each registered node at its internal host name, with backoff, " +
	"and logs when this node is back in its cluster"

// serfRejoin replaces serf's rejoin warning (a warning on every restart,
// although roster's own rejoin follows at once) with roster's account of
// its rejoin. It returns true when it logged the line.
func (a *logAdapter) serfRejoin(component, line string) bool {
	if component != "serf" || line != serfRejoinFailed {
		return false
	}
	a.log.Debug().Str("component", component).Msg(line)
	a.log.Info().Str("component", "gossip").Msg(rejoinAccount)
	return true
}
