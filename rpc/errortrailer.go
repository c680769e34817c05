package rpc

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// ErrorCodeTrailer is the trailer in which Axon Server names the Axon code
// of a failed call (AxonIQ-ErrorCode; gRPC metadata keys are lower case).
// Axon's connector reads the code from it.
const ErrorCodeTrailer = "axoniq-errorcode"

// codeOther is Axon's code for an error without a code of its own.
const codeOther = "AXONIQ-0001"

// errorCodeOf is the Axon code a failed call reports: AxonError's, else
// Axon's OTHER.
func errorCodeOf(err error) string {
	if code, _, ok := AxonCode(err); ok && code != "" {
		return code
	}
	return codeOther
}

// ErrorCodeInterceptors set the AxonIQ-ErrorCode trailer on every call
// that fails, as Axon Server does. They go first in a server's chain, so
// that errors of the interceptors after them (access control) get it too.
func ErrorCodeInterceptors() (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	unary := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			// Fails only when the call is already over; nothing to tell then.
			_ = grpc.SetTrailer(ctx, metadata.Pairs(ErrorCodeTrailer, errorCodeOf(err)))
		}
		return resp, err
	}
	stream := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := handler(srv, ss)
		if err != nil {
			ss.SetTrailer(metadata.Pairs(ErrorCodeTrailer, errorCodeOf(err)))
		}
		return err
	}
	return unary, stream
}
