package api_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	. "github.com/rosterhq/roster/api"
)

// Swagger UI's scripts are embedded gzipped: browsers get them as they are
// stored, with Content-Encoding, and a client without gzip gets the same
// bytes decompressed.
func TestSwaggerUIAssetsServedGzippedOrPlain(t *testing.T) {
	srv := testServer(t, newFakeBackend())
	for _, file := range []string{"swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"} {
		gz := call(t, srv, http.MethodGet, SwaggerAssets+file, "", "Accept-Encoding", "gzip, deflate, br")
		require.Equal(t, http.StatusOK, gz.status, file)
		require.Equal(t, "gzip", gz.header.Get("Content-Encoding"), file)
		require.Contains(t, gz.header.Get("Vary"), "Accept-Encoding", file)
		zr, err := gzip.NewReader(bytes.NewReader(gz.body))
		require.NoError(t, err, file)
		unzipped, err := io.ReadAll(zr)
		require.NoError(t, err, file)
		require.Greater(t, len(unzipped), 10000, file)

		plain := call(t, srv, http.MethodGet, SwaggerAssets+file, "", "Accept-Encoding", "identity")
		require.Equal(t, http.StatusOK, plain.status, file)
		require.Empty(t, plain.header.Get("Content-Encoding"), file)
		require.Equal(t, unzipped, plain.body, file)
		require.NotEqual(t, gz.header.Get("ETag"), plain.header.Get("ETag"), "one ETag per representation: %s", file)

		notModified := call(t, srv, http.MethodGet, SwaggerAssets+file, "", "Accept-Encoding", "gzip", "If-None-Match", gz.header.Get("ETag"))
		require.Equal(t, http.StatusNotModified, notModified.status, file)
	}
	for _, file := range []string{"swagger-ui.js", "swagger-ui-bundle.js.map", "oauth2-redirect.html", "swagger-ui-bundle.js.gz"} {
		require.Equal(t, http.StatusNotFound, call(t, srv, http.MethodGet, SwaggerAssets+file, "").status, "%s is not served", file)
	}
}
