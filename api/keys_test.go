package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/rosterhq/roster/api"
)

// fakeKeys is a KeyBackend that records the calls it gets.
type fakeKeys struct {
	mu    sync.Mutex
	calls []string // "action key force"
	err   error
}

func (f *fakeKeys) record(action, key string, force bool) (KeyReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := action + " " + key
	if force {
		c += " force"
	}
	f.calls = append(f.calls, c)
	if f.err != nil {
		return KeyReport{}, f.err
	}
	return KeyReport{Action: action, Nodes: []KeyNode{{Name: "n1", Status: "alive", OK: true, PrimaryKey: testKey, Keys: []string{testKey}}},
		Keys: map[string]int{testKey: 1}, PrimaryKeys: map[string]int{testKey: 1}}, nil
}

func (f *fakeKeys) ListKeys(context.Context) (KeyReport, error) { return f.record("list", "", false) }
func (f *fakeKeys) InstallKey(_ context.Context, k string) (KeyReport, error) {
	return f.record("install", k, false)
}
func (f *fakeKeys) UseKey(_ context.Context, k string) (KeyReport, error) {
	return f.record("use", k, false)
}
func (f *fakeKeys) RemoveKey(_ context.Context, k string, force bool) (KeyReport, error) {
	return f.record("remove", k, force)
}

func (f *fakeKeys) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

var testKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func TestKeyringRoutes(t *testing.T) {
	fk := &fakeKeys{}
	srv := testServer(t, newFakeBackend(), func(o *ServerOptions) { o.Keys = fk })

	r := call(t, srv, http.MethodGet, KeyringPath, "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var rep KeyReport
	require.NoError(t, json.Unmarshal(r.body, &rep))
	assert.Equal(t, "list", rep.Action)
	assert.Equal(t, testKey, rep.Nodes[0].PrimaryKey)

	body := `{"key":"` + testKey + `"}`
	r = call(t, srv, http.MethodPost, KeyringPath, body)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r = call(t, srv, http.MethodPut, KeyringPath+"/primary", body)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r = call(t, srv, http.MethodDelete, KeyringPath, `{"key":"`+testKey+`","force":true}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, []string{"list ", "install " + testKey, "use " + testKey, "remove " + testKey + " force"}, fk.callList())

	// A node named "keys" can still be unregistered.
	r = call(t, srv, http.MethodDelete, "/v1/cluster/keys", "")
	requireError(t, r, http.StatusNotFound, CodeNoSuchNode)
}

func TestKeyringBadInputChangesNothing(t *testing.T) {
	fk := &fakeKeys{}
	srv := testServer(t, newFakeBackend(), func(o *ServerOptions) { o.Keys = fk })
	secret := base64.StdEncoding.EncodeToString([]byte("short-secret"))
	cases := map[string]struct{ method, path, body, part string }{
		"not base64":    {http.MethodPost, KeyringPath, `{"key":"not base64 at all!"}`, "is not base64"},
		"wrong length":  {http.MethodPut, KeyringPath + "/primary", `{"key":"` + secret + `"}`, "decodes to 12 bytes"},
		"no key":        {http.MethodDelete, KeyringPath, `{}`, "key"},
		"unknown field": {http.MethodPost, KeyringPath, `{"key":"` + testKey + `","primary":true}`, "primary"},
		"malformed":     {http.MethodPost, KeyringPath, `{"key":`, "malformed JSON"},
		"not an object": {http.MethodDelete, KeyringPath, `"` + testKey + `"`, "body"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := call(t, srv, c.method, c.path, c.body)
			requireError(t, r, http.StatusBadRequest, CodeInvalidValue, c.part)
			assert.NotContains(t, string(r.body), secret, "the key is secret")
		})
	}
	assert.Empty(t, fk.callList())
}

func TestKeyringBackendErrors(t *testing.T) {
	fk := &fakeKeys{err: Errorf(CodeInvalidValue, "the key is in use: it is the primary key of n1")}
	srv := testServer(t, newFakeBackend(), func(o *ServerOptions) { o.Keys = fk })
	r := call(t, srv, http.MethodDelete, KeyringPath, `{"key":"`+testKey+`"}`)
	requireError(t, r, http.StatusBadRequest, CodeInvalidValue, "in use")

	fk.err = Errorf(CodeUnsupported, "gossip encryption is off")
	r = call(t, srv, http.MethodGet, KeyringPath, "")
	requireError(t, r, http.StatusBadRequest, CodeUnsupported, "encryption is off")
}

func TestKeyringNeedsToken(t *testing.T) {
	fk := &fakeKeys{}
	check := func(r *http.Request) *Error {
		if r.Header.Get(TokenHeader) != "good" {
			return Errorf(CodeAuthTokenMissing, "missing token")
		}
		return nil
	}
	srv := testServer(t, newFakeBackend(), func(o *ServerOptions) { o.Keys = fk; o.AccessControl = check })
	for _, c := range [][2]string{{http.MethodGet, KeyringPath}, {http.MethodPost, KeyringPath}, {http.MethodPut, KeyringPath + "/primary"}, {http.MethodDelete, KeyringPath}} {
		r := call(t, srv, c[0], c[1], `{"key":"`+testKey+`"}`)
		requireError(t, r, http.StatusForbidden, CodeAuthTokenMissing)
	}
	assert.Empty(t, fk.callList())

	r := call(t, srv, http.MethodGet, OpenAPIPath, "", TokenHeader, "good")
	require.Equal(t, http.StatusOK, r.status)
	doc := string(r.body)
	for _, op := range []string{"listKeys", "installKey", "useKey", "removeKey"} {
		assert.Contains(t, doc, `"operationId":"`+op+`"`)
	}
	assert.True(t, strings.Contains(doc, `"name":"keyring"`), "keyring tag documented")
}

func TestClientKeyMethods(t *testing.T) {
	fk := &fakeKeys{}
	srv := testServer(t, newFakeBackend(), func(o *ServerOptions) { o.Keys = fk })
	c := NewClient(srv.URL, "", false)
	ctx := context.Background()
	_, err := c.ListKeys(ctx)
	require.NoError(t, err)
	_, err = c.InstallKey(ctx, testKey)
	require.NoError(t, err)
	_, err = c.UseKey(ctx, testKey)
	require.NoError(t, err)
	r, err := c.RemoveKey(ctx, testKey, false)
	require.NoError(t, err)
	assert.Equal(t, "remove", r.Action)
	assert.Equal(t, []string{"list ", "install " + testKey, "use " + testKey, "remove " + testKey}, fk.callList())
}
