package mongo

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/schema"
)

// fakeStream replays events from a log starting after a resume token and
// fails after failAfter events (0: never).
type fakeStream struct {
	log       []bson.Raw
	tokens    []bson.Raw
	pos       int
	failAfter int
	n         int
	err       error
}

func (f *fakeStream) Next(ctx context.Context) bool {
	if f.failAfter > 0 && f.n == f.failAfter {
		f.err = errors.New("connection reset")
		return false
	}
	if f.pos >= len(f.log) {
		return false
	}
	f.pos++
	f.n++
	return true
}
func (f *fakeStream) Current() bson.Raw               { return f.log[f.pos-1] }
func (f *fakeStream) ResumeToken() bson.Raw           { return f.tokens[f.pos-1] }
func (f *fakeStream) Err() error                      { return f.err }
func (f *fakeStream) Close(ctx context.Context) error { return nil }

func event(t *testing.T, op string, id oid.ID) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(bson.D{{Key: "operationType", Value: op}, {Key: "documentKey", Value: bson.D{{Key: "_id", Value: bson.ObjectID(id)}}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFollowResumes: a stream that fails is reopened from the last
// event's resume token: every event arrives once, in order, no gap, no
// duplicate; operation types map to LIMP's opers.
func TestFollowResumes(t *testing.T) {
	ids := []oid.ID{oid.New(), oid.New(), oid.New(), oid.New(), oid.New()}
	ops := []string{"insert", "update", "replace", "invalidate", "delete"}
	var log, tokens []bson.Raw
	for i, op := range ops {
		log = append(log, event(t, op, ids[i]))
		tok, _ := bson.Marshal(bson.D{{Key: "_data", Value: string(rune('a' + i))}})
		tokens = append(tokens, tok)
	}
	var opened [][]byte
	open := func(ctx context.Context, token []byte) (changeStream, error) {
		opened = append(opened, token)
		start := 0
		for i, tk := range tokens {
			if bytes.Equal(tk, token) {
				start = i + 1
			}
		}
		return &fakeStream{log: log, tokens: tokens, pos: start, failAfter: 2}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	var got []Change
	err := follow(ctx, open, nil, 3, time.Millisecond, func(c Change) {
		got = append(got, c)
		if len(got) == 4 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("follow: %v", err)
	}
	want := []Change{{"create", ids[0], nil}, {"update", ids[1], nil}, {"update", ids[2], nil}, {"delete", ids[4], nil}}
	if len(got) != len(want) {
		t.Fatalf("got %d changes %v, want %v", len(got), got, want)
	}
	for i := range want {
		if got[i].Oper != want[i].Oper || got[i].ID != want[i].ID {
			t.Errorf("change %d = %s %v, want %s %v", i, got[i].Oper, got[i].ID, want[i].Oper, want[i].ID)
		}
	}
	if !bytes.Equal(got[3].Token, tokens[4]) {
		t.Errorf("last token = %v", got[3].Token)
	}
	if len(opened) != 3 || opened[0] != nil || !bytes.Equal(opened[1], tokens[1]) || !bytes.Equal(opened[2], tokens[3]) {
		t.Errorf("streams opened at %v", opened)
	}
}

// TestFollowGivesUp: failures in a row are bounded; a server without
// change streams is reported at once.
func TestFollowGivesUp(t *testing.T) {
	n := 0
	err := follow(context.Background(), func(context.Context, []byte) (changeStream, error) {
		n++
		return nil, errors.New("down")
	}, nil, 2, time.Millisecond, func(Change) {})
	if err == nil || n != 3 {
		t.Fatalf("follow = %v after %d opens, want an error after 3", err, n)
	}
	n = 0
	err = follow(context.Background(), func(context.Context, []byte) (changeStream, error) {
		n++
		return nil, ErrNoChangeStreams
	}, nil, 5, time.Millisecond, func(Change) {})
	if !errors.Is(err, ErrNoChangeStreams) || n != 1 {
		t.Fatalf("follow = %v after %d opens", err, n)
	}
	s := &Store{}
	if err := s.Changes(context.Background(), &schema.Collection{Name: "x"}, nil, nil); !errors.Is(err, ErrNoChangeStreams) {
		t.Fatal("no error without change streams")
	}
}
