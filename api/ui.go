package api

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/rosterhq/roster/api/dashboard"
	"github.com/rosterhq/roster/api/swaggerui"
)

// Paths of the web pages on the HTTP port.
const (
	DashboardPath = "/"
	SwaggerUIPath = "/swagger-ui.html"
	// Their assets; Swagger UI's page is also at /swagger-ui/index.html,
	// where springdoc (Axon Server) serves it.
	dashboardAssets = "/dashboard/"
	swaggerAssets   = "/swagger-ui/"
)

// dashboardCSP allows the dashboard nothing but its own files and API.
const dashboardCSP = "default-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// mountUI serves the dashboard and Swagger UI. They are plain files, not
// API operations, so they are not in the OpenAPI document.
func mountUI(mux *routeMux) {
	dash := &staticFiles{fsys: dashboard.FS(), csp: dashboardCSP}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { dash.serve(w, r, dashboard.Index) })
	mux.HandleFunc("GET "+dashboardAssets+"{file}", func(w http.ResponseWriter, r *http.Request) {
		dash.serve(w, r, r.PathValue("file"))
	})

	swagger := &staticFiles{fsys: swaggerui.FS()}
	mux.HandleFunc("GET "+SwaggerUIPath, func(w http.ResponseWriter, r *http.Request) { swagger.serve(w, r, swaggerui.Index) })
	mux.HandleFunc("GET "+swaggerAssets+"{file}", func(w http.ResponseWriter, r *http.Request) {
		swagger.serve(w, r, r.PathValue("file"))
	})
}

// isPublic tells the requests access control lets through: health, for
// probes, and the pages and their assets, which hold no data and ask for
// the token before they fetch any. Only clean paths qualify; the mux
// redirects the others to their clean form, which is checked again.
func isPublic(r *http.Request) bool {
	p := r.URL.Path
	if p == healthPath {
		return true
	}
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || path.Clean(p) != p {
		return false
	}
	return p == DashboardPath || p == SwaggerUIPath ||
		strings.HasPrefix(p, dashboardAssets) || strings.HasPrefix(p, swaggerAssets)
}

// staticFiles serves files of an embedded file system with an ETag, so
// browsers revalidate cheaply and never keep a stale page after an upgrade.
type staticFiles struct {
	fsys fs.FS
	csp  string

	mu    sync.Mutex
	cache map[string]staticFile
}

type staticFile struct {
	data []byte
	etag string
	gzip bool // data is gzipped (the file system held name+swaggerui.GzipSuffix)
}

func (s *staticFiles) serve(w http.ResponseWriter, r *http.Request, name string) {
	f, err := s.load(name)
	if err != nil {
		writeError(w, &Error{Status: http.StatusNotFound, Code: CodeInternal, Message: "no such path: " + r.URL.Path})
		return
	}
	h := w.Header()
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if s.csp != "" {
		h.Set("Content-Security-Policy", s.csp)
	}
	if ct := contentType(path.Ext(name)); ct != "" {
		h.Set("Content-Type", ct)
	}
	if !f.gzip {
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
		return
	}
	h.Add("Vary", "Accept-Encoding")
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
		return
	}
	// The rare client without gzip gets the file decompressed as it is
	// sent, under an ETag of its own.
	h.Set("ETag", strings.TrimSuffix(f.etag, `"`)+`-identity"`)
	zr, err := gzip.NewReader(bytes.NewReader(f.data))
	if err != nil {
		writeError(w, &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "api: static file " + name + ": " + err.Error()})
		return
	}
	defer zr.Close()
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.Copy(w, zr)
}

// acceptsGzip tells whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
				return true
			}
		}
	}
	return false
}

// contentType avoids depending on the host's MIME database.
func contentType(ext string) string {
	switch ext {
	case ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	}
	return ""
}

func (s *staticFiles) load(name string) (staticFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.cache[name]; ok {
		return f, nil
	}
	if strings.HasSuffix(name, swaggerui.GzipSuffix) {
		// Stored gzipped files are served under their own names only.
		return staticFile{}, fmt.Errorf("api: static file %s: %w", name, fs.ErrNotExist)
	}
	data, err := fs.ReadFile(s.fsys, name)
	gz := false
	if errors.Is(err, fs.ErrNotExist) {
		data, err = fs.ReadFile(s.fsys, name+swaggerui.GzipSuffix)
		gz = err == nil
	}
	if err != nil {
		return staticFile{}, fmt.Errorf("api: static file %s: %w", name, err)
	}
	sum := sha256.Sum256(data)
	f := staticFile{data: data, gzip: gz, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
	if s.cache == nil {
		s.cache = map[string]staticFile{}
	}
	s.cache[name] = f
	return f, nil
}
