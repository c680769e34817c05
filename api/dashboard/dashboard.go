// Package dashboard holds the web page a node serves at / on its HTTP port:
// the cluster's nodes, updated live from the node's event stream
// (GET /v1/public/events), with unregister and a token prompt when access
// control is on. Plain HTML, CSS and JavaScript embedded in the binary: no
// CDN, no build step, so it works on machines without internet access.
//
// The page reads the stream with fetch() rather than EventSource because
// EventSource cannot send the AxonIQ-Access-Token header, and a token in
// the URL would end up in logs and browser history. The token the user
// types is kept in sessionStorage (gone when the tab closes).
package dashboard

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Index is the page's file name in FS; the other files are its assets.
const Index = "index.html"

// FS returns the page and its assets (index.html, app.js, style.css,
// favicon.svg).
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub fails only for an invalid path; "static" is valid.
		return static
	}
	return sub
}
