package limp

import (
	"context"
	"sync"
)

// uploads holds one connection's files in progress (spec §9.1).
type uploads struct {
	mu sync.Mutex
}

// discardAll removes every unfinished upload of the connection.
func (u *uploads) discardAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
}

// upload handles one file/upload chunk.
func (c *conn) upload(ctx context.Context, call *Call) (*Result, error) {
	return nil, NewError(400, "CORE_FILE_UPLOAD_UNAVAILABLE", "File uploads are not enabled on this server.")
}

// attachUploads gives the call's doc the files this connection uploaded
// for the attrs it names (spec §9.2).
func (c *conn) attachUploads(call *Call) error { return nil }
