package limp

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/limp-go/limp/internal/store"
)

// operand returns the attr an update operator's operand is converted
// with: a's type and items, without the bounds and validate rules that
// hold for the attr's value (an $add of -1 on a min=0 attr is fine; the
// store checks the result against operatorBounds instead).
func (a *Attr) operand() *Attr {
	o := *a
	o.Min, o.Max, o.Validate = nil, nil, ""
	return &o
}

// operatorBounds returns the bounds the result of an update operator
// ($add, $multiply: the number; $append, $remove: the number of items)
// must keep at a: the attr's Min and Max, narrowed by the `validate`
// tag's min, max, gte, lte, len (and gt, lt on INT) rules before any
// "dive". A rule the store cannot check atomically on the result (e.g.
// "oneof", "ne", an "|" alternative) makes the operator refused: the
// error says which.
func (a *Attr) operatorBounds() (store.Bounds, error) {
	b := store.Bounds{Min: a.Min, Max: a.Max}
	if a.Validate == "" {
		return b, nil
	}
	lo := func(f float64) {
		if b.Min == nil || f > *b.Min {
			b.Min = &f
		}
	}
	hi := func(f float64) {
		if b.Max == nil || f < *b.Max {
			b.Max = &f
		}
	}
	for rule := range strings.SplitSeq(a.Validate, ",") {
		name, param, _ := strings.Cut(rule, "=")
		if name == "dive" {
			break // the rules after it hold for items, checked on each operand
		}
		f, err := strconv.ParseFloat(param, 64)
		numeric := err == nil && !math.IsNaN(f)
		switch {
		case name == "omitempty" || name == "required" && a.Type == TypeList:
		case name == "min" && numeric, name == "gte" && numeric:
			lo(f)
		case name == "max" && numeric, name == "lte" && numeric:
			hi(f)
		case name == "len" && numeric:
			lo(f)
			hi(f)
		case name == "gt" && numeric && (a.Type == TypeInt || a.Type == TypeList):
			lo(math.Floor(f) + 1)
		case name == "lt" && numeric && (a.Type == TypeInt || a.Type == TypeList):
			hi(math.Ceil(f) - 1)
		default:
			return b, fmt.Errorf("its validate rule %q cannot be checked on the result of an update operator; set the value instead", rule)
		}
	}
	return b, nil
}

// itemRules returns the validate rules a LIST's items must follow (those
// after "dive"), or "".
func (a *Attr) itemRules() string {
	if _, rest, ok := strings.Cut(a.Validate, "dive"); ok {
		return "dive" + rest
	}
	return ""
}

// boundsError turns a store's *store.BoundsError into the module's 400
// INVALID_ATTR, naming the operator and the result it would have given.
func (m *Module) boundsError(err error, u *store.Update) error {
	var oe *store.OverflowError
	if errors.As(err, &oe) {
		op := "$add"
		if u.Mul[oe.Path] != nil {
			op = "$multiply"
		}
		return m.attrError(&attrError{kind: errInvalid, path: oe.Path, msg: fmt.Sprintf("%s would overflow a 64-bit integer (%s); nothing was changed", op, oe.Expr)}, "update")
	}
	var be *store.BoundsError
	if !errors.As(err, &be) {
		return err
	}
	op := "the update"
	switch {
	case u.Add[be.Path] != nil:
		op = "$add"
	case u.Mul[be.Path] != nil:
		op = "$multiply"
	case u.Append[be.Path].Values != nil:
		op = "$append"
	case u.Remove[be.Path] != nil:
		op = "$remove"
	}
	what := "value"
	if be.Length {
		what = "number of items"
	}
	var side string
	switch {
	case math.IsNaN(be.Value):
		side = "outside the bounds " + be.Bounds.String()
	case be.Bounds.Min != nil && be.Value < *be.Bounds.Min:
		side = fmt.Sprintf("%v, below the minimum %v", be.Value, *be.Bounds.Min)
	case be.Bounds.Max != nil && be.Value > *be.Bounds.Max:
		side = fmt.Sprintf("%v, above the maximum %v", be.Value, *be.Bounds.Max)
	default:
		side = fmt.Sprintf("%v, outside the bounds %s", be.Value, be.Bounds)
	}
	return m.attrError(&attrError{kind: errInvalid, path: be.Path, msg: fmt.Sprintf("%s would make the %s %s; nothing was changed", op, what, side)}, "update")
}

// boundOperator records the bounds of an operator's result at key in u.
func boundOperator(u *store.Update, at *Attr, key string) error {
	b, err := at.operatorBounds()
	if err != nil {
		return err
	}
	if b.Min == nil && b.Max == nil {
		return nil
	}
	if u.Bounds == nil {
		u.Bounds = map[string]store.Bounds{}
	}
	u.Bounds[key] = b
	return nil
}

// checkItemRules applies a LIST's per-item validate rules ("dive,...")
// to the values an $append adds.
func checkItemRules(at *Attr, vals any, key string) error {
	rules := at.itemRules()
	if rules == "" {
		return nil
	}
	if err := theValidator().Var(vals, rules); err != nil {
		return &attrError{kind: errInvalid, path: key, msg: fmt.Sprintf("fails rule %q", at.Validate)}
	}
	return nil
}
