package mongo

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/limp-go/limp/internal/query"
)

// maxJoinDepth bounds how deeply permission filters nest (a join's Filter
// holding joins whose Filter holds joins ...). The root package stops
// sooner; a deeper filter is refused rather than compiled.
const maxJoinDepth = 8

// lookupStage is the $lookup of join j: the referenced documents that are
// live and that the caller may read (j.Filter; none at all with j.Deny),
// as an array in joinField(j.Local). A referenced document the caller may
// not read is left out of the array exactly as a missing one is, so every
// condition on the joined fields answers as for a missing reference.
func lookupStage(j *query.Join, depth int) (bson.D, error) {
	if err := checkPath(j.Local); err != nil {
		return nil, fmt.Errorf("compile join: %w", err)
	}
	pipe, err := joinPipeline(j, depth)
	if err != nil {
		return nil, err
	}
	return bson.D{{Key: "$lookup", Value: bson.D{
		{Key: "from", Value: j.Collection},
		{Key: "localField", Value: j.Local},
		{Key: "foreignField", Value: "_id"},
		{Key: "pipeline", Value: pipe},
		{Key: "as", Value: joinField(j.Local)},
	}}}, nil
}

// joinPipeline is the $lookup pipeline of j: a $match on the soft-delete
// guard and the filter's conditions that need no join; then, when the
// filter runs through references itself, their $lookup stages, a $match
// on the joined fields and a $project dropping them.
func joinPipeline(j *query.Join, depth int) (bson.A, error) {
	first := bson.D{{Key: deletedField, Value: bson.D{{Key: "$ne", Value: true}}}}
	if j.Deny {
		first = append(first, matchNothing...)
		return bson.A{bson.D{{Key: "$match", Value: first}}}, nil
	}
	if j.Filter == nil {
		return bson.A{bson.D{{Key: "$match", Value: first}}}, nil
	}
	if depth >= maxJoinDepth {
		return nil, fmt.Errorf("compile join %q: permission filters nest deeper than %d", j.Local, maxJoinDepth)
	}
	conj, ok := j.Filter.(query.And)
	if !ok {
		conj = query.And{j.Filter}
	}
	var plain, joined []query.Node
	for _, n := range flattenAnd(conj) {
		if hasJoin(n) {
			joined = append(joined, n)
		} else {
			plain = append(plain, n)
		}
	}
	if len(plain) > 0 {
		m, err := compileNode(query.And(plain))
		if err != nil {
			return nil, fmt.Errorf("compile join %q permission filter: %w", j.Local, err)
		}
		first = append(first, bson.E{Key: "$and", Value: m.andList()})
	}
	pipe := bson.A{bson.D{{Key: "$match", Value: first}}}
	if len(joined) == 0 {
		return pipe, nil
	}
	var joins []*query.Join
	for _, n := range joined {
		collectJoins(n, &joins)
	}
	drop := bson.D{}
	for _, jj := range joins {
		st, err := lookupStage(jj, depth+1)
		if err != nil {
			return nil, err
		}
		pipe = append(pipe, st)
		drop = append(drop, bson.E{Key: joinField(jj.Local), Value: int32(0)})
	}
	m, err := compileNode(query.And(joined))
	if err != nil {
		return nil, fmt.Errorf("compile join %q permission filter: %w", j.Local, err)
	}
	pipe = append(pipe, bson.D{{Key: "$match", Value: bson.D{{Key: "$and", Value: m.andList()}}}},
		bson.D{{Key: "$project", Value: drop}})
	return pipe, nil
}
