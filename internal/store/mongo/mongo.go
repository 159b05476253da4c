// Package mongo is the MongoDB implementation of store.Store, built on the
// official driver (go.mongodb.org/mongo-driver/v2).
//
// Reads compile a query.Query to an aggregation pipeline (see Compile and
// Pipeline): a $match with the soft-delete guard, then joins, $sort, $skip,
// $limit and $project; Total comes from a separate {$count} aggregation
// over the same matching stages, each `$group` from a $bucketAuto one.
//
// Compared with LIMP's pipeline (spec §7.7), on purpose:
//   - Conditions compile to explicit operators ({a: {$eq: v}}), so a value
//     is never read as an operator; the $match needs no $group to strip
//     fields: a final $project drops the store's internal fields.
//   - A join (path through a referenced document) is a $lookup (with a
//     pipeline skipping soft-deleted targets; MongoDB 5.0+) into
//     "__join_<attr>" and a $match on it, after the join-free conditions,
//     instead of $lookup + $unwind + $group; an ID list joins too.
//   - ACCESS is a plain $match $or (owner, anon, users, groups), no
//     $project.
//   - $search results are sorted by text score unless $sort is given (LIMP
//     drops the score before sorting) and no "score > 0.5" cut-off is
//     applied; $geo_near results are nearest first unless $sort is given
//     (LIMP re-sorted them by _id). _id breaks sort ties.
//   - A `$group` bucket pipeline keeps the whole filter (LIMP drops the
//     first $match whose first key is the grouped attr).
//   - $search and $geo_near together are rejected: both must be the first
//     stage.
//
// Timeouts: the v2 driver derives every command's maxTimeMS from the
// context's deadline (x/mongo/driver: calculateMaxTimeMS), and cancels the
// round trip when the context ends, so every method is bounded by ctx.
//
// Optional server features (transactions, text and 2dsphere indexes,
// $lookup, $bucketAuto, change streams, nested arrays) are probed at Open (see
// Capabilities) and the missing ones logged in one line; a call needing a
// missing one fails with a *store.UnsupportedError, everything else works.
// Without transactions (a standalone server) Tx runs fn without a
// transaction and multi-document writes are not atomic.
//
// Soft deletion: every document this store writes carries "__deleted"
// (false while live, true once soft-deleted); reads match
// {__deleted: {$ne: true}} so documents written by LIMP (without the field)
// stay visible. Unique indexes need no partial filter (which FerretDB,
// DocumentDB and Cosmos DB lack): each is a sparse compound unique index
// over the set's attrs and "__deleted_key", absent on live documents and
// the document's own _id once it is soft-deleted, so deleted documents
// never collide and live ones lacking every attr of the set are not
// indexed. On a server whose unique indexes hold a missing key distinct
// from everything (SQL NULL semantics, e.g. FerretDB on SQLite: probed at
// Open) live documents carry "__deleted_key": false instead, for the same
// effect. Sync back-fills "__deleted: false" on documents lacking it and
// "__deleted_key" on deleted ones, and replaces the partial indexes of
// earlier versions.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/limp-go/limp/internal/oid"
	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// Options configure Open. A nil *Options means all defaults.
type Options struct {
	// Logger receives the store's few log lines; nil means slog.Default().
	Logger *slog.Logger
	// WriteConcern applies to every write; nil means majority.
	WriteConcern *writeconcern.WriteConcern
	// Database is the database name; empty means the URI's path, or
	// "limp" when the URI names none.
	Database string
	// Locales are the app's locales, used to build the text index over
	// LOCALE search attrs ("title.ar_AE", "title.en_AE"). When empty, a
	// collection with a LOCALE search attr gets a wildcard text index
	// over every string field ("$**"), a superset.
	Locales []string
	// Without names features (store.Feature* names) to treat as missing
	// even when the server has them, e.g. to try an app as it would run on
	// a lesser server.
	Without []string
	// ChangeLog, when not nil and the server has no change streams,
	// turns the change log on (see ChangeLogOptions): every write is also
	// logged in ChangeLogCollection so that nodes sharing the database
	// see each other's writes (FollowChangeLog). Nil: off.
	ChangeLog *ChangeLogOptions
}

// Store is a store.Store on a MongoDB database. It is safe for concurrent
// use.
type Store struct {
	client  *mongo.Client
	db      *mongo.Database
	log     *slog.Logger
	locales []string
	caps    Capabilities
	// missingDistinct: the server's unique indexes hold documents lacking
	// a key as distinct (SQL NULL), so live documents carry
	// "__deleted_key": false instead of lacking it (see sync.go).
	missingDistinct bool
	// readGuards: the server lacks the aggregation expressions of the
	// update bounds guards (probed: FerretDB v1.x), so the bounds are
	// checked in Go on the documents read (see applyUpdateRead).
	readGuards bool
	// clog is the change log (changelog.go); nil when off.
	clog   *changeLog
	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// Open connects to the MongoDB deployment at uri and checks it answers
// within ctx.
func Open(ctx context.Context, uri string, o *Options) (*Store, error) {
	if o == nil {
		o = &Options{}
	}
	dbName, err := databaseName(uri, o.Database)
	if err != nil {
		return nil, fmt.Errorf("open mongodb: %w", err)
	}
	wc := o.WriteConcern
	if wc == nil {
		wc = writeconcern.Majority()
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetWriteConcern(wc))
	if err != nil {
		return nil, fmt.Errorf("open mongodb: %w", err)
	}
	s := &Store{client: client, db: client.Database(dbName), log: log, locales: o.Locales}
	var hello bson.M
	if err := s.db.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = client.Disconnect(dctx)
		return nil, fmt.Errorf("open mongodb: %w", err)
	}
	if s.caps, err = s.probe(ctx); err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = client.Disconnect(dctx)
		return nil, fmt.Errorf("open mongodb: %w", err)
	}
	for _, f := range o.Without {
		s.caps = s.caps.without(f)
	}
	s.logCapabilities()
	if o.ChangeLog != nil && !s.caps.ChangeStreams {
		s.openChangeLog(ctx, *o.ChangeLog)
	}
	return s, nil
}

// databaseName returns name, else the database in uri's path, else "limp".
func databaseName(uri, name string) (string, error) {
	cs, err := connstring.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("parse uri: %w", err)
	}
	switch {
	case name != "":
		return name, nil
	case cs.Database != "":
		return cs.Database, nil
	}
	return "limp", nil
}

// Close disconnects from the deployment. Later calls return
// store.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("close mongodb: %w", err)
	}
	return nil
}

func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// txKey marks a context carrying one of this store's transactions (or, on
// a standalone server, the stand-in for one).
type txKey struct{}

// Tx runs fn in a transaction carried by the context fn receives; nested
// calls join the outer transaction. On a deployment without transactions
// fn runs as is: each write is atomic on its own, and a failing fn leaves
// the writes it made before failing. Tx returns ctx.Err() without running
// fn when ctx has ended, and (in a transaction) aborts instead of
// committing when ctx ends during fn.
//
// A transaction is tried once: fn is never re-run on a transient
// transaction error (fn may have effects outside the database); the error
// is returned instead.
func (s *Store) Tx(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if ctx.Value(txKey{}) == s {
		return fn(ctx)
	}
	if !s.caps.Transactions {
		return fn(context.WithValue(ctx, txKey{}, s))
	}
	sess, err := s.client.StartSession()
	if err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	if err := sess.StartTransaction(); err != nil {
		return fmt.Errorf("start transaction: %w", err)
	}
	tctx := context.WithValue(mongo.NewSessionContext(ctx, sess), txKey{}, s)
	done := false
	defer func() {
		if !done {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if aerr := sess.AbortTransaction(actx); aerr != nil {
				s.log.Warn("abort mongodb transaction", "err", aerr)
			}
		}
	}()
	if err := fn(tctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := sess.CommitTransaction(tctx); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	done = true
	return nil
}

// Explain returns the canonical Extended JSON of q's aggregations:
// {"pipeline": [...], "count": [...], "groups": [{"by", "pipeline"}]}.
func (s *Store) Explain(c *schema.Collection, q *query.Query) (*store.Plan, error) {
	p, err := Compile(c, q)
	if err != nil {
		return nil, err
	}
	b, err := p.ExtJSON()
	if err != nil {
		return nil, err
	}
	return &store.Plan{Pipeline: b}, nil
}

// ExtJSON returns the canonical Extended JSON of p, as Explain does.
func (p *Pipeline) ExtJSON() ([]byte, error) {
	d := bson.D{{Key: "pipeline", Value: stagesA(p.Docs())}, {Key: "count", Value: stagesA(p.Count())}}
	if len(p.Groups) > 0 {
		gs := bson.A{}
		for _, g := range p.Groups {
			gs = append(gs, bson.D{{Key: "by", Value: g.By}, {Key: "pipeline", Value: stagesA(g.Stages)}})
		}
		d = append(d, bson.E{Key: "groups", Value: gs})
	}
	b, err := bson.MarshalExtJSON(d, true, false)
	if err != nil {
		return nil, fmt.Errorf("marshal pipeline: %w", err)
	}
	return b, nil
}

func stagesA(st []bson.D) bson.A {
	a := make(bson.A, len(st))
	for i, s := range st {
		a[i] = s
	}
	return a
}

// Read runs q.
func (s *Store) Read(ctx context.Context, c *schema.Collection, q *query.Query) (*store.Result, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if q == nil {
		q = &query.Query{}
	}
	p, err := Compile(c, q)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c.Name, err)
	}
	if err := s.needs(&p); err != nil {
		return nil, fmt.Errorf("read %s: %w", c.Name, err)
	}
	withIDStage(&p, q)
	coll := s.db.Collection(c.Name)
	res := &store.Result{Docs: []map[string]any{}}
	if len(q.Group) > 0 {
		res.Groups = make(map[string][]store.Bucket, len(q.Group))
	}
	for _, g := range p.Groups {
		res.Groups[g.By] = []store.Bucket{}
	}
	// Without paging the page is every match: no separate count.
	var docs []bson.D
	paged := q.Skip > 0 || q.Limit > 0
	if !paged {
		if err := aggregate(ctx, coll, p.Docs(), &docs); err != nil {
			return nil, fmt.Errorf("read %s: %w", c.Name, err)
		}
		res.Total = int64(len(docs))
	} else {
		var counts []bson.D
		if err := aggregate(ctx, coll, p.Count(), &counts); err != nil {
			return nil, fmt.Errorf("read %s: count: %w", c.Name, err)
		}
		if len(counts) > 0 {
			n, ok := toInt64(lookup(counts[0], "n"))
			if !ok {
				return nil, fmt.Errorf("read %s: count: unexpected result %v", c.Name, counts[0])
			}
			res.Total = n
		}
	}
	if res.Total == 0 {
		return res, nil
	}
	for _, g := range p.Groups {
		var out []bson.D
		if err := aggregate(ctx, coll, g.Stages, &out); err != nil {
			return nil, fmt.Errorf("read %s: $group %s: %w", c.Name, g.By, err)
		}
		for _, d := range out {
			b, err := bucket(d)
			if err != nil {
				return nil, fmt.Errorf("read %s: $group %s: %w", c.Name, g.By, err)
			}
			res.Groups[g.By] = append(res.Groups[g.By], b)
		}
	}
	if paged {
		if err := aggregate(ctx, coll, p.Docs(), &docs); err != nil {
			return nil, fmt.Errorf("read %s: %w", c.Name, err)
		}
	}
	for _, d := range docs {
		m, err := readDoc(c, d)
		if err != nil {
			return nil, fmt.Errorf("read %s: decode document: %w", c.Name, err)
		}
		delete(m, deletedKeyField)
		res.Docs = append(res.Docs, m)
	}
	return res, nil
}

func bucket(d bson.D) (store.Bucket, error) {
	var b store.Bucket
	id, ok := lookup(d, "_id").(bson.D)
	if !ok {
		return b, fmt.Errorf("unexpected bucket %v", d)
	}
	var err error
	if b.Min, err = fromBSON(lookup(id, "min")); err != nil {
		return b, err
	}
	if b.Max, err = fromBSON(lookup(id, "max")); err != nil {
		return b, err
	}
	if b.Count, ok = toInt64(lookup(d, "count")); !ok {
		return b, fmt.Errorf("unexpected bucket count %v", d)
	}
	return b, nil
}

func lookup(d bson.D, key string) any {
	for _, e := range d {
		if e.Key == key {
			return e.Value
		}
	}
	return nil
}

func aggregate(ctx context.Context, coll *mongo.Collection, stages []bson.D, out *[]bson.D) error {
	cur, err := coll.Aggregate(ctx, stages)
	if err != nil {
		return err
	}
	return cur.All(ctx, out)
}

// inTx runs fn in the context's transaction, a new one, or (standalone
// server) none.
func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if ctx.Value(txKey{}) == s || !s.caps.Transactions {
		return fn(ctx)
	}
	return s.Tx(ctx, fn)
}

// Insert stores docs, all or none (on a standalone server: inserted
// documents are removed again after a failure, best effort).
func (s *Store) Insert(ctx context.Context, c *schema.Collection, docs ...map[string]any) error {
	if err := s.check(); err != nil {
		return err
	}
	if len(docs) == 0 {
		return nil
	}
	bdocs := make([]any, len(docs))
	ids := make([]bson.ObjectID, len(docs))
	for i, d := range docs {
		id, ok := d["_id"].(oid.ID)
		if !ok {
			return fmt.Errorf("insert into %s: document %d: _id is %T, not an oid.ID", c.Name, i, d["_id"])
		}
		bd, err := s.writeDoc(d)
		if err != nil {
			return fmt.Errorf("insert into %s: document %d: %w", c.Name, i, err)
		}
		if !s.caps.NestedArrays && hasNestedArray(bd, false) {
			return fmt.Errorf("insert into %s: document %d: %w", c.Name, i, errNestedArrays())
		}
		bdocs[i], ids[i] = bd, bson.ObjectID(id)
	}
	coll := s.db.Collection(c.Name)
	if len(bdocs) == 1 && s.clog == nil {
		if _, err := coll.InsertOne(ctx, bdocs[0]); err != nil {
			return fmt.Errorf("insert into %s: %w", c.Name, dupError(c, err, s.insertConflict(ctx, c, docs)))
		}
		return nil
	}
	err := s.inTx(ctx, func(ctx context.Context) error {
		var err error
		if len(bdocs) == 1 {
			_, err = coll.InsertOne(ctx, bdocs[0])
		} else {
			_, err = coll.InsertMany(ctx, bdocs)
		}
		if err != nil {
			return err
		}
		return s.logChange(ctx, c.Name, "create", ids)
	})
	if err == nil {
		return nil
	}
	if !s.caps.Transactions {
		var bwe mongo.BulkWriteException
		if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 && bwe.WriteErrors[0].Index > 0 {
			done := ids[:bwe.WriteErrors[0].Index]
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if _, derr := coll.DeleteMany(uctx, byIDs(done)); derr != nil {
				s.log.Warn("undo partial insert", "collection", c.Name, "err", derr)
			}
		}
	}
	return fmt.Errorf("insert into %s: %w", c.Name, dupError(c, err, s.insertConflict(ctx, c, docs)))
}

// writeDoc converts a document for storage. It is live ("__deleted":
// false) unless the caller set "__deleted": true, when it is stored
// soft-deleted with its "__deleted_key".
func (s *Store) writeDoc(d map[string]any) (bson.D, error) {
	m := make(map[string]any, len(d)+2)
	for k, v := range d {
		if err := checkPath(k); err != nil || strings.Contains(k, ".") || k == deletedKeyField {
			return nil, fmt.Errorf("invalid field name %q", k)
		}
		m[k] = v
	}
	switch v := d[deletedField]; v {
	case true:
		m[deletedKeyField] = d["_id"]
	case nil, false:
		m[deletedField] = false
		if s.missingDistinct {
			m[deletedKeyField] = false
		}
	default:
		return nil, fmt.Errorf("%s is %T, not a bool", deletedField, v)
	}
	return docToBSON(m)
}

// matchIDs returns the ids of the documents q selects, in q's order, at
// most q.Limit of them.
func (s *Store) matchIDs(ctx context.Context, c *schema.Collection, q *query.Query) ([]bson.ObjectID, error) {
	return s.selectIDs(ctx, c, q, false)
}

// selectIDs is matchIDs; purge selects soft-deleted documents too.
func (s *Store) selectIDs(ctx context.Context, c *schema.Collection, q *query.Query, purge bool) ([]bson.ObjectID, error) {
	if q == nil {
		q = &query.Query{}
	}
	sel := &query.Query{Filter: q.Filter, Search: q.Search, Sort: q.Sort, Limit: q.Limit, GeoNear: q.GeoNear}
	p, err := compile(c, sel, purge)
	if err != nil {
		return nil, err
	}
	if err := s.needs(&p); err != nil {
		return nil, err
	}
	withIDStage(&p, sel)
	stages := append(p.Match, bson.D{{Key: "$sort", Value: p.Sort}})
	if q.Limit > 0 {
		stages = append(stages, bson.D{{Key: "$limit", Value: q.Limit}})
	}
	stages = append(stages, bson.D{{Key: "$project", Value: bson.D{{Key: "_id", Value: int32(1)}}}})
	var out []bson.D
	if err := aggregate(ctx, s.db.Collection(c.Name), stages, &out); err != nil {
		return nil, err
	}
	ids := make([]bson.ObjectID, 0, len(out))
	for _, d := range out {
		id, ok := lookup(d, "_id").(bson.ObjectID)
		if !ok {
			return nil, fmt.Errorf("document _id %v is not an ObjectId", lookup(d, "_id"))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func toOIDs(ids []bson.ObjectID) []oid.ID {
	out := make([]oid.ID, len(ids))
	for i, id := range ids {
		out[i] = oid.ID(id)
	}
	return out
}

func byIDs(ids []bson.ObjectID) bson.D {
	return bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}
}

// Update applies u to the documents q selects, in one transaction; the
// modified count is MongoDB's modifiedCount.
func (s *Store) Update(ctx context.Context, c *schema.Collection, q *query.Query, u *store.Update) (*store.UpdateResult, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	upd, err := CompileUpdates(u)
	if err != nil {
		return nil, fmt.Errorf("update %s: %w", c.Name, err)
	}
	guards, err := CompileGuards(u)
	if err != nil {
		return nil, fmt.Errorf("update %s: %w", c.Name, err)
	}
	if !s.caps.NestedArrays && updateNestsArrays(u) {
		return nil, fmt.Errorf("update %s: %w", c.Name, errNestedArrays())
	}
	var ids []bson.ObjectID
	var modified int64
	update := func(ctx context.Context) error {
		var err error
		if ids, err = s.matchIDs(ctx, c, q); err != nil || len(ids) == 0 || upd == nil {
			return err
		}
		coll := s.db.Collection(c.Name)
		if !s.caps.Transactions && intArith(u) {
			// overflow.go: refuse before any document changes.
			if err := s.checkOverflow(ctx, coll, ids, u); err != nil {
				return err
			}
		}
		// A split update (several update documents, see CompileUpdates)
		// could count a document once per step, and some servers count
		// an identity $inc/$mul as a change (see mayBeNoOp): compare the
		// documents before and after instead.
		compare := len(upd) > 1 || mayBeNoOp(u)
		var before map[bson.ObjectID]bson.Raw
		if compare {
			if before, err = snapshot(ctx, coll, ids); err != nil {
				return err
			}
		}
		n, err := s.applyUpdate(ctx, coll, ids, upd, guards, u)
		if err != nil || !compare {
			modified = n
			return err
		}
		after, err := snapshot(ctx, coll, ids)
		if err != nil {
			return err
		}
		modified = changed(before, after)
		return err
	}
	err = s.inTx(ctx, func(ctx context.Context) error {
		if err := update(ctx); err != nil || modified == 0 {
			return err
		}
		return s.logChange(ctx, c.Name, "update", ids)
	})

	if err != nil {
		return nil, fmt.Errorf("update %s: %w", c.Name, dupError(c, overflowError(err, u), updateConflict(c, u)))
	}
	return &store.UpdateResult{Matched: toOIDs(ids), Modified: modified}, nil
}

// Delete removes (hard: live and soft-deleted documents alike, a purge)
// or marks deleted (soft: live documents) the documents q selects.
func (s *Store) Delete(ctx context.Context, c *schema.Collection, q *query.Query, hard bool) ([]oid.ID, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var ids []bson.ObjectID
	err := s.inTx(ctx, func(ctx context.Context) error {
		var err error
		if ids, err = s.selectIDs(ctx, c, q, hard); err != nil || len(ids) == 0 {
			return err
		}
		coll := s.db.Collection(c.Name)
		if hard {
			_, err = coll.DeleteMany(ctx, byIDs(ids))
		} else {
			err = s.softDelete(ctx, coll, ids)
		}
		if err != nil {
			return err
		}
		return s.logChange(ctx, c.Name, "delete", ids)
	})
	if err != nil {
		return nil, fmt.Errorf("delete from %s: %w", c.Name, err)
	}
	return toOIDs(ids), nil
}
