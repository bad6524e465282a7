package local

import (
	"encoding/json"
	"fmt"
	"strings"
)

// choiceRule is one rule of a Choice state: a comparison of Variable with a
// literal, or And/Or/Not of nested rules. Next is set on top-level rules.
type choiceRule struct {
	next     string
	variable *path
	op       string
	operand  any
	and, or  []choiceRule
	not      *choiceRule
}

// comparisons lists the supported comparison operators.
var comparisons = map[string]bool{
	"BooleanEquals": true, "StringEquals": true, "NumericEquals": true,
	"NumericLessThan": true, "NumericLessThanEquals": true,
	"NumericGreaterThan": true, "NumericGreaterThanEquals": true,
	"IsPresent": true, "IsNull": true, "IsBoolean": true, "IsString": true, "IsNumeric": true,
}

func parseChoices(raw json.RawMessage) ([]choiceRule, error) {
	var rules []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &rules); err != nil {
		return nil, fmt.Errorf("Choices: %w", err)
	}
	out := make([]choiceRule, len(rules))
	for i, r := range rules {
		var err error
		if out[i], err = parseRule(r, true); err != nil {
			return nil, fmt.Errorf("Choices[%d]: %w", i, err)
		}
	}
	return out, nil
}

func parseRule(r map[string]json.RawMessage, top bool) (choiceRule, error) {
	var c choiceRule
	for k, v := range r {
		switch {
		case k == "Next" && top:
			if err := json.Unmarshal(v, &c.next); err != nil {
				return c, err
			}
		case k == "Comment":
		case k == "Variable":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return c, err
			}
			p, err := parsePath(s)
			if err != nil {
				return c, err
			}
			c.variable = &p
		case k == "And" || k == "Or":
			var subs []map[string]json.RawMessage
			if err := json.Unmarshal(v, &subs); err != nil {
				return c, err
			}
			for _, s := range subs {
				sub, err := parseRule(s, false)
				if err != nil {
					return c, err
				}
				if k == "And" {
					c.and = append(c.and, sub)
				} else {
					c.or = append(c.or, sub)
				}
			}
			c.op = k
		case k == "Not":
			var s map[string]json.RawMessage
			if err := json.Unmarshal(v, &s); err != nil {
				return c, err
			}
			sub, err := parseRule(s, false)
			if err != nil {
				return c, err
			}
			c.not, c.op = &sub, k
		case comparisons[k]:
			if c.op != "" {
				return c, fmt.Errorf("more than one operator (%s, %s)", c.op, k)
			}
			c.op = k
			if err := decodeJSON(v, &c.operand); err != nil {
				return c, err
			}
		default:
			return c, fmt.Errorf("field %q is not supported by the local engine", k)
		}
	}
	if top && c.next == "" {
		return c, fmt.Errorf("a rule needs Next")
	}
	if c.op == "" {
		return c, fmt.Errorf("a rule needs an operator")
	}
	if comparisons[c.op] && c.variable == nil {
		return c, fmt.Errorf("%s needs Variable", c.op)
	}
	if strings.HasPrefix(c.op, "Numeric") {
		if _, ok := c.operand.(json.Number); !ok {
			return c, fmt.Errorf("%s needs a number", c.op)
		}
	}
	return c, nil
}

// eval reports whether the rule holds for input.
func (c *choiceRule) eval(input any) bool {
	switch c.op {
	case "And":
		for i := range c.and {
			if !c.and[i].eval(input) {
				return false
			}
		}
		return true
	case "Or":
		for i := range c.or {
			if c.or[i].eval(input) {
				return true
			}
		}
		return false
	case "Not":
		return !c.not.eval(input)
	}
	v, err := c.variable.get(input)
	present := err == nil
	switch c.op {
	case "IsPresent":
		return present == (c.operand == true)
	case "IsNull":
		return present && (v == nil) == (c.operand == true)
	}
	if !present {
		return false
	}
	switch c.op {
	case "IsBoolean":
		_, ok := v.(bool)
		return ok == (c.operand == true)
	case "IsString":
		_, ok := v.(string)
		return ok == (c.operand == true)
	case "IsNumeric":
		_, ok := v.(json.Number)
		return ok == (c.operand == true)
	case "BooleanEquals":
		b, ok := v.(bool)
		return ok && b == c.operand
	case "StringEquals":
		s, ok := v.(string)
		return ok && s == c.operand
	}
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	x, err1 := n.Float64()
	y, err2 := c.operand.(json.Number).Float64()
	if err1 != nil || err2 != nil {
		return false
	}
	switch c.op {
	case "NumericEquals":
		return x == y
	case "NumericLessThan":
		return x < y
	case "NumericLessThanEquals":
		return x <= y
	case "NumericGreaterThan":
		return x > y
	default: // NumericGreaterThanEquals
		return x >= y
	}
}
