// Package layering holds the test that keeps roster's imports going one
// way: cmd/roster -> cli -> node -> api, rpc, gossip -> internal. api, rpc
// and gossip never import each other, node or cli; node wires them through
// small interfaces. Tools beside the product (examples, e2e, scripts) use
// it as clients do: through api and rpc only (scripts also read the
// figures the e2e suites write, through e2e/figures).
package layering
