package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/schema"
)

// Change streams (issue 14 item 5): one stream per watched collection per
// node, resumed from the last event's resume token after an error, so
// that several App nodes sharing one replica set each see the writes
// made on any node.

// ErrNoChangeStreams is returned by Changes when the deployment has no
// change streams: a standalone server (MongoDB needs a replica set or a
// sharded cluster) or FerretDB, which implements none.
var ErrNoChangeStreams = errors.New("mongodb: the deployment has no change streams (a replica set or a sharded cluster is needed; FerretDB has none)")

// Change is one committed write seen by a change stream.
type Change struct {
	// Oper is LIMP's name of the write: "create" (insert), "update"
	// (update, replace) or "delete".
	Oper string
	ID   oid.ID
	// Token is the event's resume token: Changes started with it
	// delivers the events after this one.
	Token []byte
}

// ChangeStreams reports whether the deployment offers change streams.
func (s *Store) ChangeStreams() bool { return s.caps.ChangeStreams }

// Changes follows the change stream of c, calling fn with each insert,
// update, replace and delete in commit order, until ctx ends (it then
// returns ctx.Err()). resume, when not nil, is the token of the last event
// already handled. A stream that fails is reopened from the last token
// (after a pause, at most retries times in a row); a server without
// change streams returns ErrNoChangeStreams (wrapped).
func (s *Store) Changes(ctx context.Context, c *schema.Collection, resume []byte, fn func(Change)) error {
	if !s.caps.ChangeStreams {
		return fmt.Errorf("watch %s: %w", c.Name, ErrNoChangeStreams)
	}
	coll := s.db.Collection(c.Name)
	open := func(ctx context.Context, token []byte) (changeStream, error) {
		pipeline := mongo.Pipeline{{{Key: "$match", Value: bson.D{{Key: "operationType",
			Value: bson.D{{Key: "$in", Value: bson.A{"insert", "update", "replace", "delete"}}}}}}}}
		o := options.ChangeStream()
		if token != nil {
			o.SetResumeAfter(bson.Raw(token))
		}
		cs, err := coll.Watch(ctx, pipeline, o)
		if err != nil {
			var ce mongo.CommandError
			if errors.As(err, &ce) && (ce.Code == 40573 || ce.Code == 59 || ce.Code == 115) {
				// 40573: "$changeStream is only supported on replica
				// sets"; 59 CommandNotFound, 115 CommandNotSupported
				// (FerretDB).
				return nil, fmt.Errorf("%w: %v", ErrNoChangeStreams, err)
			}
			return nil, err
		}
		return driverStream{cs}, nil
	}
	return follow(ctx, open, resume, 5, time.Second, fn)
}

// changeStream is the part of *mongo.ChangeStream follow uses (a fake in
// tests).
type changeStream interface {
	Next(ctx context.Context) bool
	Current() bson.Raw
	ResumeToken() bson.Raw
	Err() error
	Close(ctx context.Context) error
}

type driverStream struct{ cs *mongo.ChangeStream }

func (d driverStream) Next(ctx context.Context) bool   { return d.cs.Next(ctx) }
func (d driverStream) Current() bson.Raw               { return d.cs.Current }
func (d driverStream) ResumeToken() bson.Raw           { return d.cs.ResumeToken() }
func (d driverStream) Err() error                      { return d.cs.Err() }
func (d driverStream) Close(ctx context.Context) error { return d.cs.Close(ctx) }

// follow reads streams opened by open, reopening from the last resume
// token when one fails; retries bounds the failures in a row (an event
// delivered resets the count).
func follow(ctx context.Context, open func(context.Context, []byte) (changeStream, error), token []byte, retries int, pause time.Duration, fn func(Change)) error {
	failures := 0
	for {
		cs, err := open(ctx, token)
		if err == nil {
			for cs.Next(ctx) {
				failures = 0
				ch, ok := decodeChange(cs.Current())
				t := cs.ResumeToken()
				token = append([]byte(nil), t...)
				if ok {
					ch.Token = token
					fn(ch)
				}
			}
			err = cs.Err()
			_ = cs.Close(context.WithoutCancel(ctx))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrNoChangeStreams) {
			return err
		}
		failures++
		if failures > retries {
			return fmt.Errorf("change stream failed %d times in a row: %w", failures, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

// decodeChange maps a change event to a Change; events of other kinds
// and documents without an ObjectId _id are skipped.
func decodeChange(raw bson.Raw) (Change, bool) {
	var ev struct {
		OperationType string `bson:"operationType"`
		DocumentKey   struct {
			ID bson.ObjectID `bson:"_id"`
		} `bson:"documentKey"`
	}
	if err := bson.Unmarshal(raw, &ev); err != nil {
		return Change{}, false
	}
	var oper string
	switch ev.OperationType {
	case "insert":
		oper = "create"
	case "update", "replace":
		oper = "update"
	case "delete":
		oper = "delete"
	default:
		return Change{}, false
	}
	return Change{Oper: oper, ID: oid.ID(ev.DocumentKey.ID)}, true
}
