package node

import (
	"net/http"

	"github.com/rosterhq/roster/api"
)

// httpHandler builds what the HTTP port serves: the REST API.
func (n *Node) httpHandler() http.Handler {
	handler, _ := api.NewHandler(api.ServerOptions{
		Backend: backend{n: n},
		Logger:  n.log,
		Version: Version,
	})
	return handler
}
