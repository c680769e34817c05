package main

import (
	"context"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rosterhq/roster/rpc/controlpb"
)

// runAxon keeps one client on the platform stream as AxonIQ's Java
// connector does (testdata/axon/connector-platform-stream.json names the
// sources): it asks one of its configured servers, picked at random, where
// to go, connects there and registers; on request_reconnect it drops the
// connection and does the same again, asking a random server rather than
// the node that sent it away. A node that did not know the sender was
// stopping would send it straight back: every registration is recorded as
// a move.
func (f *fleet) runAxon(ctx context.Context, st *clientState, seeds []string) {
	id := &controlpb.ClientIdentification{ClientId: st.ID, ComponentName: "loadgen-axon", Version: "4.9.0"}
	for ctx.Err() == nil {
		conn, err := axonConnect(ctx, seeds, id)
		if err != nil {
			f.failed(st, err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond): // the connector's pace
			}
			continue
		}
		f.axonStream(ctx, st, conn, id)
		_ = conn.Close()
	}
}

// axonConnect asks the seeds in random order until one answers
// GetPlatformServer, and connects where it says.
func axonConnect(ctx context.Context, seeds []string, id *controlpb.ClientIdentification) (*grpc.ClientConn, error) {
	order := append([]string(nil), seeds...)
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	var last error
	for _, addr := range order {
		conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			last = err
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err := controlpb.NewPlatformServiceClient(conn).GetPlatformServer(cctx, id)
		cancel()
		if err != nil {
			_ = conn.Close()
			last = err
			continue
		}
		if info.GetSameConnection() {
			return conn, nil
		}
		_ = conn.Close()
		p := info.GetPrimary()
		return grpc.NewClient("passthrough:///"+net.JoinHostPort(p.GetHostName(), strconv.Itoa(int(p.GetGrpcPort()))),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	return nil, last
}

// axonStream registers on conn's node and reads until it is asked to
// reconnect or the stream ends.
func (f *fleet) axonStream(ctx context.Context, st *clientState, conn *grpc.ClientConn, id *controlpb.ClientIdentification) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := controlpb.NewPlatformServiceClient(conn).OpenStream(sctx)
	if err != nil {
		f.failed(st, err)
		return
	}
	if err := s.Send(&controlpb.PlatformInboundInstruction{
		Request: &controlpb.PlatformInboundInstruction_Register{Register: id},
	}); err != nil {
		f.failed(st, err)
		return
	}
	for {
		m, err := s.Recv()
		if err != nil {
			if ctx.Err() == nil {
				f.failed(st, err)
				f.left(st, "", "stream ended: "+err.Error())
			}
			return
		}
		switch {
		case m.GetNodeNotification() != nil:
			// roster's answer to register: the node took it.
			f.connected(st, m.GetNodeNotification().GetNodeName(), net.JoinHostPort(m.GetNodeNotification().GetHostName(),
				strconv.Itoa(int(m.GetNodeNotification().GetGrpcPort()))), 0)
		case m.GetRequestReconnect() != nil:
			f.left(st, "", "request_reconnect")
			return
		}
	}
}
