package client

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// ReadResult is the result of a read call (spec §3.4, §7.8).
type ReadResult[T any] struct {
	// Total is the number of docs matching the query before $skip/$limit.
	Total int `json:"total"`
	// Count is len(Docs).
	Count int `json:"count"`
	// Docs are the docs returned, decoded with encoding/json.
	Docs []T `json:"docs"`
	// Groups is the raw $group result object, if any.
	Groups json.RawMessage `json:"groups"`
	// Response is the whole response.
	Response *Response `json:"-"`
}

// Read calls "<module>/read" (or module itself when it contains a '/') with
// query and decodes args.docs into []T.
func Read[T any](ctx context.Context, c *Client, module string, query any) (*ReadResult[T], error) {
	endpoint := module
	if !strings.Contains(module, "/") {
		endpoint = module + "/read"
	}
	res, err := c.Call(ctx, endpoint, query, nil)
	if err != nil {
		return nil, err
	}
	var rr ReadResult[T]
	if err := res.DecodeArgs(&rr); err != nil {
		return nil, fmt.Errorf("call %s: %w", endpoint, err)
	}
	rr.Response = res
	return &rr, nil
}
