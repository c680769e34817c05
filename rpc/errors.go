package rpc

import (
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errorDomain marks ErrorInfo details that carry an Axon error code.
const errorDomain = "axoniq.io"

// AxonError is a gRPC status error carrying an Axon error code (for example
// AXONIQ-2500) in an ErrorInfo detail and at the start of its message, so
// clients that read only the message see the code too.
func AxonError(c codes.Code, axonCode, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	st := status.New(c, axonCode+": "+msg)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: axonCode, Domain: errorDomain, Metadata: map[string]string{"message": msg}}); err == nil {
		st = d
	}
	return st.Err()
}

// AxonCode extracts the Axon code and the bare message from a status error
// made by AxonError.
func AxonCode(err error) (code, message string, ok bool) {
	st, isStatus := status.FromError(err)
	if !isStatus {
		return "", "", false
	}
	for _, d := range st.Details() {
		if info, is := d.(*errdetails.ErrorInfo); is && info.Domain == errorDomain {
			return info.Reason, info.Metadata["message"], true
		}
	}
	return "", "", false
}

// IsUnavailable reports whether err says the peer could not be reached.
func IsUnavailable(err error) bool {
	st, ok := status.FromError(err)
	return ok && (st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded) || errors.Is(err, errUnreachable)
}

var errUnreachable = errors.New("rpc: peer unreachable")
