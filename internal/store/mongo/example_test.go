package mongo_test

import (
	"fmt"

	"github.com/limp-go/limp/internal/query"
	"github.com/limp-go/limp/internal/schema"
	"github.com/limp-go/limp/internal/store/mongo"
)

func ExampleCompile() {
	c := &schema.Collection{Name: "blogs", Attrs: map[string]*schema.Type{
		"status": {Kind: schema.Str}, "price": {Kind: schema.Float},
	}}
	q := &query.Query{
		Filter: query.And{
			&query.Cond{Path: "status", Op: query.Eq, Value: "published"},
			&query.Cond{Path: "price", Op: query.Gt, Value: int64(5)},
		},
		Sort:  []query.Sort{{Path: "price", Desc: true}},
		Limit: 10,
	}
	p, err := mongo.Compile(c, q)
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := p.ExtJSON()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(b))
	// Output:
	// {"pipeline":[{"$match":{"__deleted":{"$ne":true},"$and":[{"status":{"$eq":"published"}},{"price":{"$gt":{"$numberLong":"5"}}}]}},{"$sort":{"price":{"$numberInt":"-1"},"_id":{"$numberInt":"-1"}}},{"$limit":{"$numberLong":"10"}},{"$project":{"__deleted":{"$numberInt":"0"}}}],"count":[{"$match":{"__deleted":{"$ne":true},"$and":[{"status":{"$eq":"published"}},{"price":{"$gt":{"$numberLong":"5"}}}]}},{"$count":"n"}]}
}
