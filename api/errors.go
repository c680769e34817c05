package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Axon Server's error codes, as its REST API and CLI report them.
const (
	CodeAuthTokenMissing = "AXONIQ-1000"
	CodeInvalidToken     = "AXONIQ-1001"
	CodeNoSuchNode       = "AXONIQ-1301"
	CodeAlreadyMember    = "AXONIQ-2306"
	CodeCannotRemoveLast = "AXONIQ-2310"
	CodeSameNodeName     = "AXONIQ-2500"
	CodeUnknownHost      = "AXONIQ-2501"
	CodeCannotJoin       = "AXONIQ-2502"
	CodeNotAMember       = "AXONIQ-2307" // the node was unregistered from the cluster
	CodeInvalidValue     = "AXONIQ-2311" // malformed body, bad host name, port out of range
	CodeUnsupported      = "AXONIQ-1002" // an instruction the node does not handle
	CodeInternal         = "AXONIQ-0001" // Axon's OTHER: an unexpected server error
)

// ErrorCodeHeader names the Axon code of every error response, as Axon
// Server sets it.
const ErrorCodeHeader = "AxonIQ-ErrorCode"

// statusOf maps each code to its HTTP status: Axon Server's (its
// ErrorCode enum), except already-a-member, which is what Axon Server EE's
// POST /v1/cluster answers for it (409 Conflict, before its 406 code is
// ever reached).
var statusOf = map[string]int{
	CodeAuthTokenMissing: http.StatusForbidden,
	CodeInvalidToken:     http.StatusForbidden,
	CodeNoSuchNode:       http.StatusNotFound,
	CodeAlreadyMember:    http.StatusConflict,
	CodeCannotRemoveLast: http.StatusNotAcceptable,
	CodeSameNodeName:     http.StatusBadRequest,
	CodeUnknownHost:      http.StatusBadRequest,
	CodeCannotJoin:       http.StatusBadRequest,
	CodeNotAMember:       http.StatusForbidden,
	CodeInvalidValue:     http.StatusBadRequest,
	CodeUnsupported:      http.StatusBadRequest,
	CodeInternal:         http.StatusInternalServerError,
}

// Error is the JSON body of every error response: {"code": "...", "message": "..."}.
// It is also the error type the node returns to the API, so a code chosen deep
// in the node reaches the client unchanged. Errors of joining (POST
// /v1/cluster) also carry "success": false, the shape of Axon Server EE's
// answers there.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code" doc:"Axon Server error code, e.g. AXONIQ-2500."`
	Message string `json:"message" doc:"What went wrong, in words."`
	Success *bool  `json:"success,omitempty" doc:"False; only on errors of POST /v1/cluster, as Axon Server EE's RestResponse."`
}

// Errorf builds an Error with the status that belongs to code.
func Errorf(code, format string, args ...any) *Error {
	st, ok := statusOf[code]
	if !ok {
		st = http.StatusInternalServerError
	}
	return &Error{Status: st, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return e.Code + ": " + e.Message
}

// GetStatus lets huma use the error as the response status.
func (e *Error) GetStatus() int { return e.Status }

// asJoinFailure is e in the shape of Axon Server EE's join answers:
// success false besides the code and message.
func (e *Error) asJoinFailure() *Error {
	c := *withStatus(e)
	no := false
	c.Success = &no
	return &c
}

// AsError finds an *Error in err's chain; other errors become CodeInternal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: err.Error()}
}
