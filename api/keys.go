package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// KeyringPath is where the gossip keyring of the whole cluster is managed,
// like `serf keys` (and Consul's /v1/operator/keyring): GET lists, POST
// installs, PUT .../primary makes a key primary, DELETE removes. Keys
// always travel in bodies, never in paths, so they stay out of access
// logs. It is not under /v1/cluster/, where DELETE /v1/cluster/{name}
// would take a node named "keys".
const KeyringPath = "/v1/keyring"

// TagKeyring groups the keyring operations in the OpenAPI document.
const TagKeyring = "keyring"

// KeyBackend manages the gossip encryption keys of every node of the
// cluster; the node implements it on serf's key manager. Errors carry Axon
// codes as *Error.
type KeyBackend interface {
	ListKeys(ctx context.Context) (KeyReport, error)
	InstallKey(ctx context.Context, key string) (KeyReport, error)
	UseKey(ctx context.Context, key string) (KeyReport, error)
	RemoveKey(ctx context.Context, key string, force bool) (KeyReport, error)
}

// KeyReport is the answer of every keyring operation: what each
// registered node reported.
type KeyReport struct {
	Action      string         `json:"action" enum:"list,install,use,remove" doc:"The operation that ran."`
	Nodes       []KeyNode      `json:"nodes" doc:"Every registered node, sorted by name."`
	Keys        map[string]int `json:"keys" doc:"Each installed key (base64) and the number of nodes holding it."`
	PrimaryKeys map[string]int `json:"primaryKeys" doc:"Each primary key (base64) and the number of nodes encrypting with it."`
}

// KeyNode is one node in a KeyReport.
type KeyNode struct {
	Name       string   `json:"name" doc:"Node name."`
	Status     string   `json:"status" enum:"alive,suspect,failed,left" doc:"Membership status as the answering node sees it."`
	OK         bool     `json:"ok" doc:"True when the node answered and the operation took effect on it."`
	PrimaryKey string   `json:"primaryKey,omitempty" doc:"Key the node encrypts gossip with."`
	Keys       []string `json:"keys,omitempty" doc:"Keys the node decrypts gossip with."`
	Message    string   `json:"message,omitempty" doc:"Why the node is not OK, or what it reported."`
	Warning    string   `json:"warning,omitempty" doc:"The node's warning about its keyring, e.g. a saved keyring that differs from its configured key."`
}

// KeyRequest is the body of POST /v1/keyring and PUT /v1/keyring/primary.
type KeyRequest struct {
	Key string `json:"key" minLength:"1" maxLength:"128" doc:"Gossip key: base64 of 16, 24 or 32 bytes (roster keygen)."`
}

// RemoveKeyRequest is the body of DELETE /v1/keyring.
type RemoveKeyRequest struct {
	Key   string `json:"key" minLength:"1" maxLength:"128" doc:"Gossip key to remove: base64 of 16, 24 or 32 bytes."`
	Force bool   `json:"force,omitempty" doc:"Remove the key although some registered nodes did not answer (failed or left); such a node cannot rejoin if it still needs the key."`
}

type (
	keyReportOutput struct{ Body KeyReport }
	keyInput        struct{ Body KeyRequest }
	removeKeyInput  struct{ Body RemoveKeyRequest }
)

// checkKey refuses what cannot be a gossip key before the backend sees it.
// The key is secret: messages give its length, never its value.
func checkKey(field, key string) error {
	k := strings.TrimSpace(key)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(k); err == nil {
			if len(b) == 16 || len(b) == 24 || len(b) == 32 {
				return nil
			}
			return Errorf(CodeInvalidValue, "%s: the key (hidden, %d characters) decodes to %d bytes; a key is base64 of 16, 24 or 32 bytes (roster keygen makes one)", field, len(key), len(b))
		}
	}
	return Errorf(CodeInvalidValue, "%s: the key (hidden, %d characters) is not base64; a key is base64 of 16, 24 or 32 bytes (roster keygen makes one)", field, len(key))
}

// registerKeys adds the keyring operations; protected adds the token
// requirement to their documentation (the check itself wraps the mux).
func registerKeys(a huma.API, kb KeyBackend, protected bool) {
	if kb == nil {
		return
	}
	errs := []int{http.StatusBadRequest, http.StatusInternalServerError}
	var security []map[string][]string
	if protected {
		errs = append(errs, http.StatusForbidden)
		security = []map[string][]string{{"AxonIQ-Access-Token": {}}}
	}
	oapi := a.OpenAPI()
	oapi.Tags = append(oapi.Tags, &huma.Tag{Name: TagKeyring,
		Description: "Gossip encryption keys of every node: rotate them without downtime (install, use, remove)."})
	const every = " Acts on every node gossip reaches and reports per registered node; " +
		"a node that fails makes the answer 500 naming it. Keyrings are saved in each node's controldb-path."

	huma.Register(a, huma.Operation{
		OperationID: "listKeys",
		Method:      http.MethodGet,
		Path:        KeyringPath,
		Summary:     "List the gossip keys of every node",
		Description: "Each node's primary key and installed keys, and how many nodes hold each key." + every,
		Tags:        []string{TagKeyring},
		Errors:      errs,
		Security:    security,
	}, func(ctx context.Context, _ *struct{}) (*keyReportOutput, error) {
		return keyResult(kb.ListKeys(ctx))
	})

	huma.Register(a, huma.Operation{
		OperationID:  "installKey",
		Method:       http.MethodPost,
		Path:         KeyringPath,
		Summary:      "Install a gossip key on every node",
		Description:  "Nodes then decrypt gossip with this key too, but still encrypt with their primary key." + every,
		Tags:         []string{TagKeyring},
		MaxBodyBytes: maxBodyBytes + 1,
		Errors:       errs,
		Security:     security,
	}, func(ctx context.Context, in *keyInput) (*keyReportOutput, error) {
		if err := checkKey("body.key", in.Body.Key); err != nil {
			return nil, err
		}
		return keyResult(kb.InstallKey(ctx, in.Body.Key))
	})

	huma.Register(a, huma.Operation{
		OperationID:  "useKey",
		Method:       http.MethodPut,
		Path:         KeyringPath + "/primary",
		Summary:      "Make a gossip key the primary key of every node",
		Description:  "Nodes encrypt gossip with this key from now on. Refused unless every node reached has the key installed." + every,
		Tags:         []string{TagKeyring},
		MaxBodyBytes: maxBodyBytes + 1,
		Errors:       errs,
		Security:     security,
	}, func(ctx context.Context, in *keyInput) (*keyReportOutput, error) {
		if err := checkKey("body.key", in.Body.Key); err != nil {
			return nil, err
		}
		return keyResult(kb.UseKey(ctx, in.Body.Key))
	})

	huma.Register(a, huma.Operation{
		OperationID: "removeKey",
		Method:      http.MethodDelete,
		Path:        KeyringPath,
		Summary:     "Remove a gossip key from every node",
		Description: "Refused while the key is any node's primary key, and, unless force is set, while a registered node " +
			"did not answer (it could not rejoin if it still needs the key)." + every,
		Tags:         []string{TagKeyring},
		MaxBodyBytes: maxBodyBytes + 1,
		Errors:       errs,
		Security:     security,
	}, func(ctx context.Context, in *removeKeyInput) (*keyReportOutput, error) {
		if err := checkKey("body.key", in.Body.Key); err != nil {
			return nil, err
		}
		return keyResult(kb.RemoveKey(ctx, in.Body.Key, in.Body.Force))
	})
}

func keyResult(r KeyReport, err error) (*keyReportOutput, error) {
	if err != nil {
		return nil, withStatus(AsError(err))
	}
	if r.Nodes == nil {
		r.Nodes = []KeyNode{}
	}
	return &keyReportOutput{Body: r}, nil
}

// ListKeys lists every node's gossip keys (GET /v1/keyring).
func (c *Client) ListKeys(ctx context.Context) (KeyReport, error) {
	var r KeyReport
	err := c.Do(ctx, http.MethodGet, KeyringPath, nil, &r)
	return r, err
}

// InstallKey installs key on every node (POST /v1/keyring).
func (c *Client) InstallKey(ctx context.Context, key string) (KeyReport, error) {
	var r KeyReport
	err := c.Do(ctx, http.MethodPost, KeyringPath, KeyRequest{Key: key}, &r)
	return r, err
}

// UseKey makes key every node's primary key (PUT /v1/keyring/primary).
func (c *Client) UseKey(ctx context.Context, key string) (KeyReport, error) {
	var r KeyReport
	err := c.Do(ctx, http.MethodPut, KeyringPath+"/primary", KeyRequest{Key: key}, &r)
	return r, err
}

// RemoveKey removes key from every node (DELETE /v1/keyring).
func (c *Client) RemoveKey(ctx context.Context, key string, force bool) (KeyReport, error) {
	var r KeyReport
	err := c.Do(ctx, http.MethodDelete, KeyringPath, RemoveKeyRequest{Key: key, Force: force}, &r)
	return r, err
}

// KeyOpPath is the method and path of a keyring action, for clients that
// want the raw JSON (the CLI's -o json).
func KeyOpPath(action string) (method, path string, err error) {
	switch action {
	case "list":
		return http.MethodGet, KeyringPath, nil
	case "install":
		return http.MethodPost, KeyringPath, nil
	case "use":
		return http.MethodPut, KeyringPath + "/primary", nil
	case "remove":
		return http.MethodDelete, KeyringPath, nil
	}
	return "", "", fmt.Errorf("api: unknown keyring action %q", action)
}
