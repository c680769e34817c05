package node

import (
	"net/http"

	"github.com/rosterhq/roster/api"
)

// httpHandler builds what the HTTP port serves: the REST API.
func (n *Node) httpHandler() http.Handler {
	handler, humaAPI := api.NewHandler(api.ServerOptions{
		Backend: backend{n: n},
		Logger:  n.log,
		Version: Version,
		Metrics: n.metrics, // HTTP metrics, and what /actuator/prometheus serves
		// Access control and the keyring routes (node/accesscontrol.go, node/keys.go).
		AccessControl: n.restAccessControl(),
		Keys:          keyBackend{n: n},
	})
	// register-node's check that every node lists this one (node/listed.go).
	api.RegisterListed(humaAPI, listedBackend{n: n}, n.cfg.AccessControl.Enabled)
	return handler
}
