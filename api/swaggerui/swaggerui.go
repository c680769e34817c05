// Package swaggerui serves Swagger UI for the node's OpenAPI document
// (/v3/api-docs) from files embedded in the binary: swagger-ui's own
// distribution as github.com/swaggest/swgui/v5/static embeds it (only the
// files a page needs, gzipped), plus roster's page and initializer. Nothing
// is fetched from the internet, and Swagger UI's online validator is
// switched off, so it works on offline machines.
package swaggerui

import (
	"embed"
	"errors"
	"io/fs"
	"slices"

	swaggerfiles "github.com/swaggest/swgui/v5/static"
)

//go:embed static
var static embed.FS

// Index is the page's file name in FS.
const Index = "index.html"

// distFiles are the files taken from swagger-ui's distribution. The
// scripts and the style sheet are stored gzipped: FS has them under their
// name plus GzipSuffix, which the server sends as they are to browsers
// that accept gzip.
var distFiles = []string{
	"swagger-ui.css" + GzipSuffix,
	"swagger-ui-bundle.js" + GzipSuffix,
	"swagger-ui-standalone-preset.js" + GzipSuffix,
	"favicon-16x16.png",
	"favicon-32x32.png",
}

// GzipSuffix ends the names of files FS holds gzipped.
const GzipSuffix = ".gz"

// FS returns the page (index.html), roster's initializer
// (swagger-initializer.js) and swagger-ui's assets, some of them gzipped
// (GzipSuffix).
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
