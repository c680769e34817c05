package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// maxBodyBytes is the largest request body the API accepts (1 MiB).
const maxBodyBytes = 1 << 20

// msgBodyTooLarge is the message for a body over maxBodyBytes.
const msgBodyTooLarge = "request body is larger than 1 MiB"

func init() {
	// huma builds the errors it writes by itself (validation failures,
	// malformed or oversized bodies, a handler's plain error) through these
	// two package-level variables; replacing them is the only hook it offers
	// to give those errors our {"code","message"} shape. They are set once,
	// here, and never changed afterwards.
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		return fromHuma(nil, status, msg, errs)
	}
	huma.NewErrorWithContext = func(ctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
		var op *huma.Operation
		if ctx != nil {
			op = ctx.Operation()
		}
		return fromHuma(op, status, msg, errs)
	}
}

// fromHuma turns an error huma is about to write into an *Error:
//   - an *Error among errs (a handler's error) is returned as it is;
//   - bad input (400 malformed body, 413 too large, 415 not JSON,
//     422 validation) becomes 400 CodeInvalidValue naming the fields;
//   - 404 inside a route with a {name} parameter is CodeNoSuchNode;
//   - anything else keeps its status with CodeInternal (Axon's OTHER).
//
// op is nil when huma has no request at hand (e.g. when it documents the
// error schema at registration).
func fromHuma(op *huma.Operation, status int, msg string, errs []error) *Error {
	for _, err := range errs {
		var e *Error
		if errors.As(err, &e) {
			return withStatus(e)
		}
	}
	switch status {
	case http.StatusRequestEntityTooLarge:
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidValue, Message: msgBodyTooLarge}
	case http.StatusUnsupportedMediaType:
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidValue,
			Message: "request body must be application/json" + suffix(describeDetails(status, errs))}
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidValue, Message: joinMessage(status, msg, errs)}
	case http.StatusNotFound:
		code := CodeInternal
		if op != nil && strings.Contains(op.Path, "{name}") {
			code = CodeNoSuchNode
		}
		return &Error{Status: status, Code: code, Message: joinMessage(status, msg, errs)}
	}
	if status == 0 {
		// huma asks for an example error (status 0) to document the schema.
		return &Error{Status: http.StatusInternalServerError, Code: CodeInternal}
	}
	return &Error{Status: status, Code: CodeInternal, Message: joinMessage(status, msg, errs)}
}

// joinMessage builds one line from huma's message and its details:
// "body.internalGrpcPort: expected number <= 65535; body: ...". huma's
// generic "validation failed" is dropped when details say more.
func joinMessage(status int, msg string, errs []error) string {
	details := describeDetails(status, errs)
	switch {
	case details == "" && msg == "":
		return strings.ToLower(http.StatusText(status))
	case details == "":
		return msg
	case msg == "" || msg == "validation failed":
		return details
	}
	return msg + ": " + details
}

// describeDetails renders huma's error details as "location: message"
// pairs. A detail located at "body" on a 400 is a body that is not JSON.
// Values are left out on purpose: huma puts the whole body there for
// parse errors, which may be up to 1 MiB.
func describeDetails(status int, errs []error) string {
	parts := make([]string, 0, len(errs))
	for _, err := range errs {
		if err == nil {
			continue
		}
		var dd huma.ErrorDetailer
		if !errors.As(err, &dd) {
			parts = append(parts, err.Error())
			continue
		}
		d := dd.ErrorDetail()
		switch {
		case status == http.StatusBadRequest && d.Location == "body":
			parts = append(parts, "malformed JSON body: "+d.Message)
		case d.Location == "":
			parts = append(parts, d.Message)
		default:
			parts = append(parts, d.Location+": "+d.Message)
		}
	}
	return strings.Join(parts, "; ")
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// withStatus returns e with the status its code implies when it has none
// (an *Error built as a literal): writing status 0 would make net/http panic.
func withStatus(e *Error) *Error {
	if e.Status != 0 {
		return e
	}
	c := *e
	c.Status = http.StatusInternalServerError
	if st, ok := statusOf[e.Code]; ok {
		c.Status = st
	}
	return &c
}

// errorCodeHeader sets the AxonIQ-ErrorCode header on every error huma
// writes (a huma transformer: it runs before the status is written).
func errorCodeHeader(ctx huma.Context, _ string, v any) (any, error) {
	if e, ok := v.(*Error); ok && e.Code != "" {
		ctx.SetHeader(ErrorCodeHeader, e.Code)
	}
	return v, nil
}

// writeError writes e as the JSON error body, for responses written outside
// huma (access control, unknown routes, the OpenAPI document).
func writeError(w http.ResponseWriter, e *Error) {
	e = withStatus(e)
	body, err := json.Marshal(e)
	if err != nil {
		// Cannot happen for two strings; keep the shape anyway.
		body = []byte(fmt.Sprintf(`{"code":%q,"message":%q}`, CodeInternal, "cannot encode error"))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set(ErrorCodeHeader, e.Code)
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(body, '\n'))
}
