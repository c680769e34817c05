package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rosterhq/roster/rpc/client"
	"github.com/rosterhq/roster/rpc/rosterpb"
)

// A client that stays connected to the cluster: calls go to the node
// placement picks for it, and follow it when it moves.
func Example() {
	c, err := client.New(client.Config{
		Seeds:         []string{"node1.example.com:8124", "node2.example.com:8124"},
		ComponentName: "billing",
		OnEvent: func(ev client.Event) {
			if ev.Type == client.EventConnected {
				fmt.Printf("served by %s after %s without a server\n", ev.Server.Name, ev.Gap)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nodes, err := rosterpb.NewClusterServiceClient(c).ListNodes(ctx, &rosterpb.ListNodesRequest{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(nodes.GetAnsweredBy(), len(nodes.GetNodes()))
}

// Any gRPC client can balance over the alive nodes with the resolver.
func ExampleNewResolverBuilder() {
	conn, err := grpc.NewClient("roster:///node1.example.com:8124,node2.example.com:8124",
		grpc.WithResolvers(client.NewResolverBuilder(client.ResolverOptions{})),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	resp, err := rosterpb.NewClusterServiceClient(conn).ListNodes(context.Background(), &rosterpb.ListNodesRequest{}, grpc.WaitForReady(true))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.GetAnsweredBy())
}
