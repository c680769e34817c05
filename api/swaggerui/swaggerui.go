// Package swaggerui serves Swagger UI for the node's OpenAPI document
// (/v3/api-docs) from files embedded in the binary: swagger-ui's own
// distribution as shipped by github.com/swaggo/files/v2, plus roster's page
// and initializer. Nothing is fetched from the internet, and Swagger UI's
// online validator is switched off, so it works on offline machines.
package swaggerui

import (
	"embed"
	"errors"
	"io/fs"
	"slices"

	swaggerfiles "github.com/swaggo/files/v2"
)

//go:embed static
var static embed.FS

// Index is the page's file name in FS.
const Index = "index.html"

// distFiles are the files taken from swagger-ui's distribution; the rest
// of it (source maps, ES bundles, its petstore initializer) is not served.
var distFiles = []string{
	"swagger-ui.css",
	"swagger-ui-bundle.js",
	"swagger-ui-standalone-preset.js",
	"favicon-16x16.png",
	"favicon-32x32.png",
}

// FS returns the page (index.html), roster's initializer
// (swagger-initializer.js) and swagger-ui's assets.
func FS() fs.FS { return overlay{} }

// overlay serves roster's files, then the allowed files of the distribution.
type overlay struct{}

func (overlay) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := static.Open("static/" + name)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	if slices.Contains(distFiles, name) {
		return swaggerfiles.FS.Open(name)
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}
