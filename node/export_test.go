package node

// CloseHTTPListener closes the node's HTTP listener behind its server's
// back, as a failing socket would end the server loop.
func CloseHTTPListener(n *Node) error { return n.ls.http.Close() }
