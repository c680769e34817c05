package node

import (
	"context"
	"errors"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
)

// keyBackend is the REST API's keyring routes over gossip's key manager.
type keyBackend struct{ n *Node }

var _ api.KeyBackend = keyBackend{}

func (k keyBackend) ListKeys(context.Context) (api.KeyReport, error) {
	return keyResult(k.n.cluster.ListKeys())
}

func (k keyBackend) InstallKey(_ context.Context, key string) (api.KeyReport, error) {
	return keyResult(k.n.cluster.InstallKey(key))
}

func (k keyBackend) UseKey(_ context.Context, key string) (api.KeyReport, error) {
	return keyResult(k.n.cluster.UseKey(key))
}

func (k keyBackend) RemoveKey(_ context.Context, key string, force bool) (api.KeyReport, error) {
	return keyResult(k.n.cluster.RemoveKey(key, force))
}

// keyResult maps gossip's report and errors to the API's. A failure after
// acting keeps the per-node detail in its message.
func keyResult(r gossip.KeyReport, err error) (api.KeyReport, error) {
	if err != nil {
		msg := errMsg(err)
		switch {
		case errors.Is(err, gossip.ErrNoEncryption):
			return api.KeyReport{}, api.Errorf(api.CodeUnsupported, "%s (%s)", msg, propEncryptionKey)
		case errors.Is(err, gossip.ErrBadKey), errors.Is(err, gossip.ErrKeyInUse),
			errors.Is(err, gossip.ErrKeyNotInstalled), errors.Is(err, gossip.ErrNodesUnreached):
			return api.KeyReport{}, api.Errorf(api.CodeInvalidValue, "%s", msg)
		}
		return api.KeyReport{}, api.Errorf(api.CodeInternal, "%s", msg)
	}
	out := api.KeyReport{Action: r.Action, Keys: r.Keys, PrimaryKeys: r.PrimaryKeys, Nodes: make([]api.KeyNode, len(r.Nodes))}
	for i, n := range r.Nodes {
		out.Nodes[i] = api.KeyNode{Name: n.Name, Status: string(n.Status), OK: n.OK, PrimaryKey: n.Primary,
			Keys: n.Keys, Message: n.Message, Warning: n.Warning}
	}
	return out, nil
}
