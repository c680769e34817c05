package api

import (
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// internalPrefix starts the debugging routes: documented, but not part of
// the stable API.
const internalPrefix = "/internal/"

// internalNote ends the description of every internal route.
const internalNote = "Internal routes may change without notice."

// documentInternal tags every /internal/ operation internal and says it
// may change without notice, whoever registers it.
func documentInternal(_ *huma.OpenAPI, op *huma.Operation) {
	if !strings.HasPrefix(op.Path, internalPrefix) {
		return
	}
	if !slices.Contains(op.Tags, TagInternal) {
		op.Tags = append(op.Tags, TagInternal)
	}
	if !strings.Contains(op.Description, internalNote) {
		op.Description = strings.TrimSpace(op.Description + " " + internalNote)
	}
	if op.Extensions == nil {
		op.Extensions = map[string]any{}
	}
	op.Extensions["x-internal"] = true
}

// gossipResponses documents /internal/gossip's answer, which the node
// builds from its gossip layer's own types (any to the API).
func gossipResponses() map[string]*huma.Response {
	return map[string]*huma.Response{"200": {
		Description: "OK",
		Content: map[string]*huma.MediaType{"application/json": {Schema: &huma.Schema{
			Type:                 huma.TypeObject,
			AdditionalProperties: true,
			Description: "The gossip profile, serf's stats, memberlist's members, the registry of registered " +
				"members, the unregistered nodes' tombstones and the rejoin state, as the node holds them.",
		}}},
	}}
}
