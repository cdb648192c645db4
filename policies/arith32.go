package policies

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// OPA (v1.22.x) computes +, -, *, / and abs of two integers in the int32
// window in int64 and then hands the result back through int: on 32-bit
// CPUs (arm, mips, 386) 1048576 * 3600 comes out as -520093696, and every
// quota comparison in the built-in policies goes wrong. The wrappers below
// compute exactly those cases in int64 and return the result as a number
// literal; everything else, and every result that fits an int, still goes
// to OPA's own implementation, so 64-bit builds never take the new path.
func init() {
	wrapIntArith(ast.Plus.Name, func(x, y int64) (int64, bool) { return x + y, true })
	wrapIntArith(ast.Minus.Name, func(x, y int64) (int64, bool) { return x - y, true })
	wrapIntArith(ast.Multiply.Name, func(x, y int64) (int64, bool) { return x * y, true })
	// Only an exact quotient is an integer; OPA's float path handles the rest
	// and a zero divisor.
	wrapIntArith(ast.Divide.Name, func(x, y int64) (int64, bool) { return x / y, y != 0 && x%y == 0 })

	abs := topdown.GetBuiltin(ast.Abs.Name)
	topdown.RegisterBuiltinFunc(ast.Abs.Name, func(bctx topdown.BuiltinContext, operands []*ast.Term, iter func(*ast.Term) error) error {
		if x, ok := int32Operand(operands[0]); ok {
			if r := max(x, -x); !fitsInt(r) {
				return iter(int64Term(r))
			}
		}
		return abs(bctx, operands, iter)
	})
}

// wrapIntArith replaces the built-in name by one that computes op itself
// when both operands are in OPA's int32 window and the result does not fit
// an int.
func wrapIntArith(name string, op func(x, y int64) (int64, bool)) {
	orig := topdown.GetBuiltin(name)
	topdown.RegisterBuiltinFunc(name, func(bctx topdown.BuiltinContext, operands []*ast.Term, iter func(*ast.Term) error) error {
		if x, ok := int32Operand(operands[0]); ok {
			if y, ok := int32Operand(operands[1]); ok {
				if r, ok := op(x, y); ok && !fitsInt(r) {
					return iter(int64Term(r))
				}
			}
		}
		return orig(bctx, operands, iter)
	})
}

// int32Operand is t's value when OPA would take its int fast path for it.
func int32Operand(t *ast.Term) (int64, bool) {
	n, ok := t.Value.(ast.Number)
	if !ok {
		return 0, false
	}
	i, ok := n.Int64()
	return i, ok && math.MinInt32 <= i && i <= math.MaxInt32
}

func fitsInt(i int64) bool { return int64(int(i)) == i }

func int64Term(i int64) *ast.Term { return ast.NumberTerm(json.Number(strconv.FormatInt(i, 10))) }
