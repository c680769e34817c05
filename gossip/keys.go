package gossip

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/serf/serf"
)

// Errors of key management; callers map them to their error codes.
var (
	ErrNoEncryption    = errors.New("gossip: gossip encryption is off")
	ErrBadKey          = errors.New("gossip: not a gossip key")
	ErrKeyInUse        = errors.New("gossip: the key is in use")
	ErrKeyNotInstalled = errors.New("gossip: the key is not installed on every node")
	ErrNodesUnreached  = errors.New("gossip: registered nodes were not reached")
	ErrKeyOpFailed     = errors.New("gossip: the key operation failed on some nodes")
)

// Key operations, as reported.
const (
	KeyList    = "list"
	KeyInstall = "install"
	KeyUse     = "use"
	KeyRemove  = "remove"
)

// keyringQuery asks every node for its keyring after a key operation, so
// the report names each node: serf's KeyManager names only the nodes that
// fail or warn.
const keyringQuery = "roster-keyring"

// queryResponseLimit is serf's default QueryResponseSizeLimit, which
// roster keeps: room for about twenty keys.
const queryResponseLimit = 1024

// KeyNode is one registered node in a key report.
type KeyNode struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	// OK is true when the node answered and, for install, use and remove,
	// its keyring now has the key installed, primary, or gone.
	OK bool `json:"ok"`
	// Primary is the key the node encrypts with; Keys every key it
	// decrypts with. Empty when it did not answer.
	Primary string   `json:"primaryKey,omitempty"`
	Keys    []string `json:"keys,omitempty"`
	// Message says why a node is not OK, or what serf reported for it.
	Message string `json:"message,omitempty"`
	// Warning is the node's own start-up warning about its keyring (a
	// saved keyring that differs from the configured key).
	Warning string `json:"warning,omitempty"`
}

// KeyReport is the result of a key operation, per registered node.
type KeyReport struct {
	Action string    `json:"action"`
	Nodes  []KeyNode `json:"nodes"`
	// Keys counts, per installed key, the nodes that hold it; PrimaryKeys
	// counts the nodes that use it as primary key.
	Keys        map[string]int `json:"keys"`
	PrimaryKeys map[string]int `json:"primaryKeys"`
}

// keyringAnswer is a node's answer to keyringQuery.
type keyringAnswer struct {
	Primary string   `json:"p"`
	Keys    []string `json:"k"`
	Warning string   `json:"w,omitempty"`
}

// NormalizeKey checks a gossip key (base64 of 16, 24 or 32 bytes, in the
// standard or URL alphabet, padded or not) and returns it in standard
// base64, as keyrings list keys. Its errors never contain the key.
func NormalizeKey(key string) (string, error) {
	key = strings.TrimSpace(key)
	var b []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err = enc.DecodeString(key); err == nil {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("%w: the key (hidden, %d characters) is not base64", ErrBadKey, len(key))
	}
	if len(b) != 16 && len(b) != 24 && len(b) != 32 {
		return "", fmt.Errorf("%w: the key (hidden, %d characters) decodes to %d bytes; a key is 16, 24 or 32 bytes (roster keygen makes one)", ErrBadKey, len(key), len(b))
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// ListKeys reports every node's keyring.
func (c *Cluster) ListKeys() (KeyReport, error) { return c.keyOp(KeyList, "", false) }

// InstallKey adds key to every node's keyring; nodes still encrypt with
// their primary key but now decrypt with key too.
func (c *Cluster) InstallKey(key string) (KeyReport, error) { return c.keyOp(KeyInstall, key, false) }

// UseKey makes key, installed everywhere first, every node's primary key.
func (c *Cluster) UseKey(key string) (KeyReport, error) { return c.keyOp(KeyUse, key, false) }

// RemoveKey removes key from every node's keyring. It refuses a key that
// is some node's primary key, and, unless force, a key that a registered
// node that did not answer (failed, left) might still need to rejoin.
func (c *Cluster) RemoveKey(key string, force bool) (KeyReport, error) {
	return c.keyOp(KeyRemove, key, force)
}

func (c *Cluster) keyOp(action, key string, force bool) (KeyReport, error) {
	s, err := c.current()
	if err != nil {
		return KeyReport{}, err
	}
	if !s.EncryptionEnabled() {
		return KeyReport{}, fmt.Errorf("%w on node %s: keys can be managed only when every node starts with a gossip key", ErrNoEncryption, c.cfg.Name)
	}
	if action != KeyList {
		if key, err = NormalizeKey(key); err != nil {
			return KeyReport{}, err
		}
	}
	// One key operation at a time on this node; serf's own lock does not
	// cover the checks before it.
	c.keysMu.Lock()
	defer c.keysMu.Unlock()

	before, err := c.askKeyrings(s)
	if err != nil {
		return KeyReport{}, err
	}
	if err := c.checkKeyOp(action, key, force, before); err != nil {
		return KeyReport{}, err
	}
	var report KeyReport
	var opErr error
	// serf waits for answers only briefly: a node busy writing its state
	// may take the change after serf gave up on it. So ask every node what
	// it holds now, and repeat the (idempotent) operation for a node that
	// did not take it yet.
	for attempt := 1; ; attempt++ {
		var resp *serf.KeyResponse
		resp, opErr = runKeyOp(s.KeyManager(), action, key)
		if action == KeyList {
			report = c.keyReport(action, key, before, resp, opErr)
			break
		}
		after, err := c.askKeyrings(s)
		if err != nil {
			return KeyReport{}, err
		}
		report = c.keyReport(action, key, after, resp, opErr)
		if len(liveFailures(report)) == 0 || attempt == keyOpAttempts {
			break
		}
		c.log.Debug().Str("action", action).Int("attempt", attempt).Msg("gossip: key operation not yet seen on every node; again")
	}
	if failed := liveFailures(report); len(failed) > 0 {
		return report, fmt.Errorf("%w: %s on %s", ErrKeyOpFailed, action, strings.Join(failed, "; "))
	}
	if opErr != nil && action == KeyList {
		// serf counts answers; ours named every live node OK, so a
		// shortfall there was a late answer, not a failure.
		c.log.Debug().Err(opErr).Msg("gossip: list-keys query")
	}
	c.log.Info().Str("action", action).Int("nodes", len(report.Nodes)).Msg("gossip: key operation done")
	return report, nil
}

// keyOpAttempts bounds how often an operation is sent to nodes that did
// not take it.
const keyOpAttempts = 3

// keyQueryTimeout is the least time nodes get to answer keyringQuery: they
// answer from the loop that also records membership changes on disk.
const keyQueryTimeout = 5 * time.Second

func runKeyOp(km *serf.KeyManager, action, key string) (*serf.KeyResponse, error) {
	switch action {
	case KeyInstall:
		return km.InstallKey(key)
	case KeyUse:
		return km.UseKey(key)
	case KeyRemove:
		return km.RemoveKey(key)
	}
	return km.ListKeys()
}

// liveFailures lists the nodes gossip reaches on which the operation did
// not take effect. Nodes it cannot reach are reported, not failed: the
// operation did what it could, and remove refused them before acting.
func liveFailures(r KeyReport) []string {
	var failed []string
	for _, n := range r.Nodes {
		if !n.OK && (n.Status == StatusAlive || n.Status == StatusSuspect) {
			failed = append(failed, n.Name+": "+n.Message)
		}
	}
	return failed
}

// checkKeyOp refuses operations that would split the cluster.
func (c *Cluster) checkKeyOp(action, key string, force bool, rings map[string]keyringAnswer) error {
	switch action {
	case KeyUse:
		var missing []string
		for name, r := range rings {
			if !slices.Contains(r.Keys, key) {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return fmt.Errorf("%w: %s lack it; install it first (roster keys install), then use it", ErrKeyNotInstalled, strings.Join(missing, ", "))
		}
	case KeyRemove:
		var primary []string
		for name, r := range rings {
			if r.Primary == key {
				primary = append(primary, name)
			}
		}
		if len(primary) > 0 {
			sort.Strings(primary)
			return fmt.Errorf("%w: it is the primary key of %s; make another key primary first (roster keys use)", ErrKeyInUse, strings.Join(primary, ", "))
		}
		if force {
			return nil
		}
		var unreached []string
		for _, m := range c.reg.list() {
			if _, ok := rings[m.Name]; !ok {
				unreached = append(unreached, fmt.Sprintf("%s (%s)", m.Name, m.Status))
			}
		}
		if len(unreached) > 0 {
			return fmt.Errorf("%w: %s did not answer; a node that still uses this key could not rejoin after it is removed; start it or unregister it first, or force the removal", ErrNodesUnreached, strings.Join(unreached, ", "))
		}
	}
	return nil
}

// askKeyrings asks every node gossip reaches for its keyring and returns
// the answers by node name. A query and its answers travel as UDP
// messages: a node alive in serf's view that did not answer is asked
// again, up to keyOpAttempts queries, with answers relayed through other
// nodes as well.
func (c *Cluster) askKeyrings(s *serf.Serf) (map[string]keyringAnswer, error) {
	out := map[string]keyringAnswer{}
	for attempt := 1; ; attempt++ {
		want := map[string]bool{}
		for _, m := range s.Members() {
			if m.Status == serf.StatusAlive {
				if _, ok := out[m.Name]; !ok {
					want[m.Name] = true
				}
			}
		}
		if len(want) == 0 || attempt > keyOpAttempts {
			return out, nil
		}
		if attempt > 1 {
			c.log.Debug().Int("attempt", attempt).Int("missing", len(want)).Msg("gossip: keyring query not answered by every alive node; asking again")
		}
		if err := c.askKeyringsOnce(s, want, out); err != nil {
			return nil, err
		}
	}
}

// askKeyringsOnce sends one keyring query and records the answers in out
// until every node in want answered or the query timed out.
func (c *Cluster) askKeyringsOnce(s *serf.Serf, want map[string]bool, out map[string]keyringAnswer) error {
	params := s.DefaultQueryParams()
	params.Timeout = max(params.Timeout, keyQueryTimeout)
	params.RelayFactor = keyQueryRelays
	resp, err := s.Query(keyringQuery, nil, params)
	if err != nil {
		return fmt.Errorf("gossip: ask nodes for their keyrings: %w", err)
	}
	defer resp.Close()
	timeout := time.NewTimer(params.Timeout)
	defer timeout.Stop()
	for len(want) > 0 {
		select {
		case r, ok := <-resp.ResponseCh():
			if !ok {
				return nil
			}
			var a keyringAnswer
			if err := json.Unmarshal(r.Payload, &a); err != nil {
				c.log.Warn().Str("member", r.From).Msg("gossip: unreadable keyring answer")
				continue
			}
			out[r.From] = a
			delete(want, r.From)
		case <-timeout.C:
			return nil
		}
	}
	return nil
}

// keyQueryRelays is how many other nodes relay each answer to a keyring
// query besides the direct one (serf's RelayFactor).
const keyQueryRelays = 2

// answerKeyring answers keyringQuery with this node's keyring, to a
// registered member only (serf names the node that sent the query).
func (c *Cluster) answerKeyring(q *serf.Query) {
	c.mu.Lock()
	kr, warn := c.keyring, c.keyWarn
	c.mu.Unlock()
	if kr == nil {
		return
	}
	if _, ok := c.reg.get(q.SourceNode()); !ok {
		c.metrics.dropped.WithLabelValues("query_not_from_a_member", "event").Inc()
		c.log.Debug().Str("from", q.SourceNode()).Msg("gossip: ignoring a keyring query from a node that is not a member")
		return
	}
	if err := c.backupKeyring(); err != nil {
		c.log.Error().Err(err).Msg("gossip: cannot back up the keyring")
	}
	a := keyringAnswer{Primary: base64.StdEncoding.EncodeToString(kr.GetPrimaryKey()), Warning: strings.TrimPrefix(warn, "gossip: ")}
	for _, k := range kr.GetKeys() {
		a.Keys = append(a.Keys, base64.StdEncoding.EncodeToString(k))
	}
	b, _ := json.Marshal(a)
	if len(b) > queryResponseLimit {
		// The warning is the part that can go; keys cannot.
		a.Warning = ""
		b, _ = json.Marshal(a)
	}
	if err := q.Respond(b); err != nil {
		c.log.Warn().Err(err).Msg("gossip: answer keyring query")
	}
}

// keyReport puts the answers and serf's response together per registered
// member, sorted by name.
func (c *Cluster) keyReport(action, key string, rings map[string]keyringAnswer, resp *serf.KeyResponse, opErr error) KeyReport {
	r := KeyReport{Action: action, Keys: map[string]int{}, PrimaryKeys: map[string]int{}}
	for _, m := range c.reg.list() {
		n := KeyNode{Name: m.Name, Status: m.Status}
		a, answered := rings[m.Name]
		if resp != nil {
			n.Message = resp.Messages[m.Name]
		}
		if answered {
			n.Primary, n.Keys, n.Warning = a.Primary, a.Keys, a.Warning
			switch action {
			case KeyList:
				n.OK = true
			case KeyInstall:
				n.OK = slices.Contains(a.Keys, key)
			case KeyUse:
				n.OK = a.Primary == key
			case KeyRemove:
				n.OK = !slices.Contains(a.Keys, key)
			}
			for _, k := range a.Keys {
				r.Keys[k]++
			}
			r.PrimaryKeys[a.Primary]++
			if !n.OK && n.Message == "" {
				n.Message = "its keyring did not change"
				if opErr != nil {
					n.Message += " (" + opErr.Error() + ")"
				}
			}
		} else if n.Message == "" {
			n.Message = fmt.Sprintf("not reached (%s)", m.Status)
			if m.Status == StatusAlive || m.Status == StatusSuspect {
				n.Message = "did not answer in time"
			}
		}
		r.Nodes = append(r.Nodes, n)
	}
	return r
}
