package mongo

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store"
)

// Field names the store keeps inside stored or in-flight documents. None of
// them ever reaches a caller.
const (
	// deletedField marks soft-deleted documents. Documents written by this
	// store always carry it (false while live) so that unique indexes can
	// use the partial filter {__deleted: false}: MongoDB rejects $ne and
	// $exists: false in partialFilterExpression.
	deletedField = "__deleted"
	// distanceField receives $geoNear's computed distance.
	distanceField = "__distance"
	// scoreField is the $sort key of the text score.
	scoreField = "__score"
	// joinPrefix prefixes the $lookup output of a join ("__join_cat").
	joinPrefix = "__join_"
)

// Pipeline is a compiled read: the aggregation stages selecting the
// matching documents (Match) and the stages paging and shaping them (Page).
//
// The compiler builds every MongoDB operator from the query AST's closed
// enums (query.Op, the node types); no operator name, stage name or
// expression is ever taken from client input. Paths are checked to be plain
// field paths (no "$" segments), and values are always operands of an
// explicit operator ($eq, $in, ...), so a client value shaped like
// {"$where": ...} is compared literally and never evaluated.
type Pipeline struct {
	// Match selects every matching document: $geoNear (when asked) as the
	// first stage, then a $match holding the soft-delete guard, the
	// $text search and every condition that needs no join, then the joins'
	// $lookup stages and a $match on the joined fields.
	Match []bson.D
	// Page sorts, skips, limits and projects the matching documents.
	Page []bson.D
	// Groups holds, per `$group` item in query order, Match followed by a
	// $bucketAuto stage.
	Groups []GroupPipeline
	// Sort is the $sort stage inside Page, reused by Update and Delete.
	Sort bson.D
}

// GroupPipeline is the aggregation computing the buckets of one `$group`.
type GroupPipeline struct {
	By     string
	Stages []bson.D
}

// Docs returns the aggregation returning the page of documents.
func (p *Pipeline) Docs() []bson.D { return concat(p.Match, p.Page) }

// Count returns the aggregation counting every match (Total): LIMP runs a
// separate {$count} aggregation too; a $facet would put the whole page in
// one 16 MB document.
func (p *Pipeline) Count() []bson.D {
	return concat(p.Match, []bson.D{{{Key: "$count", Value: "n"}}})
}

func concat(a, b []bson.D) []bson.D {
	out := make([]bson.D, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

// Compile compiles q over collection c into an aggregation pipeline. It is
// pure and deterministic: the same input always yields the same stages.
func Compile(c *schema.Collection, q *query.Query) (Pipeline, error) {
	return compile(c, q, false)
}

// compile is Compile; purge selects soft-deleted documents too (a hard
// delete): the first $match has no soft-delete guard.
func compile(c *schema.Collection, q *query.Query, purge bool) (Pipeline, error) {
	if q == nil {
		q = &query.Query{}
	}
	var p Pipeline
	if q.Search != "" && q.GeoNear != nil {
		return p, errors.New("compile query: $search and $geo_near cannot be combined (both must be the first stage)")
	}

	// Split the top-level conjunction: conditions without joins go in the
	// first $match, before any $lookup.
	var plain, joined []query.Node
	if q.Filter != nil {
		conj, ok := q.Filter.(query.And)
		if !ok {
			conj = query.And{q.Filter}
		}
		for _, n := range flattenAnd(conj) {
			if hasJoin(n) {
				joined = append(joined, n)
			} else {
				plain = append(plain, n)
			}
		}
	}

	if g := q.GeoNear; g != nil {
		if err := checkPath(g.Attr); err != nil {
			return p, fmt.Errorf("compile $geo_near: %w", err)
		}
		p.Match = append(p.Match, bson.D{{Key: "$geoNear", Value: bson.D{
			{Key: "near", Value: bson.D{{Key: "type", Value: "Point"}, {Key: "coordinates", Value: bson.A{g.Lng, g.Lat}}}},
			{Key: "key", Value: g.Attr},
			{Key: "distanceField", Value: distanceField},
			{Key: "maxDistance", Value: g.MaxDistance},
			{Key: "spherical", Value: true},
		}}})
	}

	first := bson.D{{Key: deletedField, Value: bson.D{{Key: "$ne", Value: true}}}}
	if purge {
		first = bson.D{}
	}
	if q.Search != "" {
		first = append(first, bson.E{Key: "$text", Value: bson.D{{Key: "$search", Value: q.Search}}})
	}
	if len(plain) > 0 {
		m, err := compileNode(query.And(plain))
		if err != nil {
			return p, err
		}
		first = append(first, bson.E{Key: "$and", Value: m.andList()})
	}
	p.Match = append(p.Match, bson.D{{Key: "$match", Value: first}})

	var joins []*query.Join
	if len(joined) > 0 {
		for _, n := range joined {
			collectJoins(n, &joins)
		}
		for _, j := range joins {
			st, err := lookupStage(j, 0)
			if err != nil {
				return p, err
			}
			p.Match = append(p.Match, st)
		}
		m, err := compileNode(query.And(joined))
		if err != nil {
			return p, err
		}
		p.Match = append(p.Match, bson.D{{Key: "$match", Value: bson.D{{Key: "$and", Value: m.andList()}}}})
	}

	// Sort: the given keys, else relevance for $search, nearest first for
	// $geo_near, else newest first. _id breaks ties so pages are stable.
	var sort bson.D
	switch {
	case len(q.Sort) > 0:
		for _, s := range q.Sort {
			if err := checkPath(s.Path); err != nil {
				return p, fmt.Errorf("compile $sort: %w", err)
			}
			if slices.ContainsFunc(sort, func(e bson.E) bool { return e.Key == s.Path }) {
				continue
			}
			dir := int32(1)
			if s.Desc {
				dir = -1
			}
			sort = append(sort, bson.E{Key: s.Path, Value: dir})
		}
	case q.Search != "":
		sort = bson.D{{Key: scoreField, Value: bson.D{{Key: "$meta", Value: "textScore"}}}}
	case q.GeoNear != nil:
		sort = bson.D{{Key: distanceField, Value: int32(1)}}
	}
	if !slices.ContainsFunc(sort, func(e bson.E) bool { return e.Key == "_id" }) {
		sort = append(sort, bson.E{Key: "_id", Value: int32(-1)})
	}
	p.Sort = sort
	p.Page = append(p.Page, bson.D{{Key: "$sort", Value: sort}})
	if q.Skip > 0 {
		p.Page = append(p.Page, bson.D{{Key: "$skip", Value: q.Skip}})
	}
	if q.Limit > 0 {
		p.Page = append(p.Page, bson.D{{Key: "$limit", Value: q.Limit}})
	}
	proj, err := projection(q, joins)
	if err != nil {
		return p, err
	}
	p.Page = append(p.Page, bson.D{{Key: "$project", Value: proj}})

	for _, g := range q.Group {
		if err := checkPath(g.By); err != nil {
			return p, fmt.Errorf("compile $group: %w", err)
		}
		if g.Count < 1 {
			return p, fmt.Errorf("compile $group: count %d for %q is not positive", g.Count, g.By)
		}
		// $bucketAuto counts a missing value as null, the lowest: the
		// counts add up to the total (the embedded store does the same).
		p.Groups = append(p.Groups, GroupPipeline{By: g.By, Stages: concat(p.Match, []bson.D{
			{{Key: "$bucketAuto", Value: bson.D{
				{Key: "groupBy", Value: "$" + g.By},
				{Key: "buckets", Value: int32(min(g.Count, math.MaxInt32))},
			}}},
		})})
	}
	return p, nil
}

// projection returns the final $project: an inclusion of _id and q.Attrs,
// or an exclusion of the store's internal fields.
func projection(q *query.Query, joins []*query.Join) (bson.D, error) {
	if q.Attrs != nil {
		proj := bson.D{{Key: "_id", Value: int32(1)}}
		attrs := slices.Clone(q.Attrs)
		slices.Sort(attrs)
		for _, a := range attrs {
			if err := checkPath(a); err != nil {
				return nil, fmt.Errorf("compile $attrs: %w", err)
			}
			// Skip duplicates and paths inside an attr already kept:
			// MongoDB rejects {a: 1, "a.b": 1} as a path collision.
			if a == "_id" || slices.ContainsFunc(attrs, func(b string) bool { return strings.HasPrefix(a, b+".") }) ||
				slices.ContainsFunc(proj, func(e bson.E) bool { return e.Key == a }) {
				continue
			}
			proj = append(proj, bson.E{Key: a, Value: int32(1)})
		}
		return proj, nil
	}
	proj := bson.D{{Key: deletedField, Value: int32(0)}}
	if q.GeoNear != nil {
		proj = append(proj, bson.E{Key: distanceField, Value: int32(0)})
	}
	for _, j := range joins {
		proj = append(proj, bson.E{Key: joinField(j.Local), Value: int32(0)})
	}
	return proj, nil
}

func joinField(local string) string { return joinPrefix + strings.ReplaceAll(local, ".", "_") }

func flattenAnd(a query.And) []query.Node {
	var out []query.Node
	for _, n := range a {
		if x, ok := n.(query.And); ok {
			out = append(out, flattenAnd(x)...)
		} else if n != nil {
			out = append(out, n)
		}
	}
	return out
}

func hasJoin(n query.Node) bool {
	switch n := n.(type) {
	case query.And:
		return slices.ContainsFunc(n, hasJoin)
	case query.Or:
		return slices.ContainsFunc(n, hasJoin)
	case *query.Cond:
		return n.Join != nil
	}
	return false
}

// collectJoins appends the distinct joins of n in first-use order.
func collectJoins(n query.Node, js *[]*query.Join) {
	switch n := n.(type) {
	case query.And:
		for _, c := range n {
			collectJoins(c, js)
		}
	case query.Or:
		for _, c := range n {
			collectJoins(c, js)
		}
	case *query.Cond:
		if n.Join != nil && !slices.ContainsFunc(*js, func(j *query.Join) bool { return j.Local == n.Join.Local }) {
			*js = append(*js, n.Join)
		}
	}
}

// matchExpr is one compiled filter expression: a document with one or more
// keys, all of which must match.
type matchExpr bson.D

// andList returns the $and operand for e: its parts as separate documents.
func (e matchExpr) andList() bson.A {
	if len(e) == 1 && e[0].Key == "$and" {
		return e[0].Value.(bson.A)
	}
	return bson.A{bson.D(e)}
}

// matchNothing is a filter no document satisfies (an empty Or).
var matchNothing = matchExpr{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{}}}}}

func compileNode(n query.Node) (matchExpr, error) {
	switch n := n.(type) {
	case query.And:
		parts := flattenAnd(n)
		if len(parts) == 0 {
			return matchExpr{}, nil
		}
		if len(parts) == 1 {
			return compileNode(parts[0])
		}
		list := make(bson.A, 0, len(parts))
		for _, c := range parts {
			m, err := compileNode(c)
			if err != nil {
				return nil, err
			}
			list = append(list, bson.D(m))
		}
		return matchExpr{{Key: "$and", Value: list}}, nil
	case query.Or:
		if len(n) == 0 {
			return matchNothing, nil
		}
		if len(n) == 1 {
			return compileNode(n[0])
		}
		list := make(bson.A, 0, len(n))
		for _, c := range n {
			m, err := compileNode(c)
			if err != nil {
				return nil, err
			}
			list = append(list, bson.D(m))
		}
		return matchExpr{{Key: "$or", Value: list}}, nil
	case *query.Cond:
		return compileCond(n)
	case *query.Access:
		return compileAccess(n)
	case nil:
		return matchExpr{}, nil
	}
	return nil, fmt.Errorf("compile query: unknown filter node %T", n)
}

func compileCond(c *query.Cond) (matchExpr, error) {
	path := c.Path
	if c.Join != nil {
		path = joinField(c.Join.Local) + "." + c.Path
	}
	if err := checkPath(path); err != nil {
		return nil, fmt.Errorf("compile condition: %w", err)
	}
	val, err := toBSON(c.Value)
	if err != nil {
		return nil, fmt.Errorf("compile condition on %q: %w", c.Path, err)
	}
	var ops bson.D
	switch c.Op {
	case query.Eq, query.Ne, query.Gt, query.Gte, query.Lt, query.Lte:
		ops = bson.D{{Key: c.Op.String(), Value: val}}
	case query.Bet:
		val2, err := toBSON(c.Value2)
		if err != nil {
			return nil, fmt.Errorf("compile condition on %q: %w", c.Path, err)
		}
		ops = bson.D{{Key: "$gte", Value: val}, {Key: "$lte", Value: val2}}
	case query.In, query.Nin, query.All:
		list, ok := c.Value.([]any)
		if !ok {
			return nil, fmt.Errorf("compile condition on %q: %s needs a list, got %T", c.Path, c.Op, c.Value)
		}
		// $all reads {$elemMatch: ...} elements as operators: keep
		// every element literal.
		if c.Op == query.All {
			for _, x := range list {
				if m, ok := x.(map[string]any); ok {
					for k := range m {
						if strings.HasPrefix(k, "$") {
							return nil, fmt.Errorf("compile condition on %q: $all element has operator-like key %q", c.Path, k)
						}
					}
				}
			}
		}
		ops = bson.D{{Key: c.Op.String(), Value: val}}
	case query.Regex:
		s, ok := c.Value.(string)
		if !ok {
			return nil, fmt.Errorf("compile condition on %q: $regex needs a string, got %T", c.Path, c.Value)
		}
		ops = bson.D{{Key: "$regex", Value: s}, {Key: "$options", Value: "i"}}
	default:
		return nil, fmt.Errorf("compile condition on %q: unknown operator %d", c.Path, c.Op)
	}
	return matchExpr{{Key: path, Value: ops}}, nil
}

// compileAccess compiles an ACCESS check (spec §7.6): the owner, a public
// document, a listed user or a listed group.
func compileAccess(a *query.Access) (matchExpr, error) {
	if err := checkPath(a.Path); err != nil {
		return nil, fmt.Errorf("compile access: %w", err)
	}
	uid := bson.ObjectID(a.User)
	or := bson.A{
		bson.D{{Key: "user", Value: bson.D{{Key: "$eq", Value: uid}}}},
		bson.D{{Key: a.Path + ".anon", Value: bson.D{{Key: "$eq", Value: true}}}},
		bson.D{{Key: a.Path + ".users", Value: bson.D{{Key: "$eq", Value: uid}}}},
	}
	if len(a.Groups) > 0 {
		gs := make(bson.A, len(a.Groups))
		for i, g := range a.Groups {
			gs[i] = bson.ObjectID(g)
		}
		or = append(or, bson.D{{Key: a.Path + ".groups", Value: bson.D{{Key: "$in", Value: gs}}}})
	}
	return matchExpr{{Key: "$or", Value: or}}, nil
}

// checkPath rejects anything but a plain dotted field path: no empty
// segments, no segment starting with "$", no NUL.
func checkPath(p string) error {
	if p == "" {
		return errors.New("empty field path")
	}
	for seg := range strings.SplitSeq(p, ".") {
		if seg == "" || seg[0] == '$' || strings.IndexByte(seg, 0) >= 0 {
			return fmt.Errorf("invalid field path %q", p)
		}
	}
	return nil
}

// CompileUpdate translates u to one MongoDB update document (spec §8.5):
// nil for an empty update, an error when u needs more than one document
// (paths that conflict in MongoDB; see CompileUpdates).
func CompileUpdate(u *store.Update) (bson.D, error) {
	ds, err := CompileUpdates(u)
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	if len(ds) > 1 {
		return nil, fmt.Errorf("compile update: its paths conflict in one MongoDB update document (%d needed); use CompileUpdates", len(ds))
	}
	return ds[0], nil
}

// checkUpdatePath is checkPath, also refusing the store's own fields.
func checkUpdatePath(p string) error {
	if err := checkPath(p); err != nil {
		return err
	}
	if top, _, _ := strings.Cut(p, "."); top == "_id" || top == deletedField {
		return fmt.Errorf("field %q cannot be updated", p)
	}
	return nil
}
