package server

import (
	"context"
	"net"
)

// ServedByConn returns ctx as the server gives it to a request of one of
// its connections (connContext), over a connection that is never written:
// the handler benchmarks serve a request as the server does, Azure's
// headers given to the connection (requestWriter.azureHeaders), without a
// socket.
func ServedByConn(ctx context.Context) context.Context {
	return connContext(ctx, newFixConn(idleConn{}, nil))
}

type idleConn struct{ net.Conn }
