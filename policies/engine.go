// Package policies validates loaded device profiles against Rego policies:
// devfence's built-in ones (embedded from this folder) and an organisation's
// own. The policies follow conftest's conventions, so
// `conftest test --policy policies/ profile.yaml` reaches the same verdicts
// as Engine.Check (docs/POLICIES.md).
package policies

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/devfence/devfence/compiler"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

//go:embed *.rego
var builtin embed.FS

// builtinDir names the built-in modules in Rego errors, so that one points
// at the file to fix.
const builtinDir = "policies"

// Options configure an Engine; the zero value checks the built-in policies only.
type Options struct {
	// Dirs are extra policy directories (or single .rego files), searched
	// recursively, as conftest's --policy is.
	Dirs []string
}

// Engine holds compiled policies and a query prepared once; Check may be
// called concurrently.
type Engine struct {
	query rego.PreparedEvalQuery
	rules []resultRule
	ids   []string
}

// resultRule is one rule whose results fail a profile (deny, violation) or
// warn about it (warn), queried into its own variable.
type resultRule struct {
	ref  ast.Ref // data.main.deny
	pkg  string  // package path without "data.", e.g. "main"
	name string  // e.g. "deny" or "violation_ports"
	bind string  // the query variable holding its value
	warn bool    // a warn rule: its results never fail the profile
}

// Report is the outcome of checking one profile.
type Report struct {
	// Denies are the unwaived findings, positioned in the profile's file and
	// sorted by line and column; none means the profile passes.
	Denies compiler.Diagnostics
	// Warnings are the results of warn rules, as conftest reports them:
	// shown, never failing the profile. Sorted as Denies.
	Warnings compiler.Diagnostics
	// Waived are the profile's waivers that silenced at least one finding in
	// this check, in file order. A waiver that silenced nothing is not listed:
	// it is stale, and the report should not suggest it still matters.
	Waived []Waived
}

// Waived is one waiver that a check honoured.
type Waived struct {
	Policy string
	Reason string
	Path   string // waivers[i]
}

// Denies is Check for callers that only need the findings that fail the
// profile, such as compile and apply.
func (e *Engine) Denies(ctx context.Context, p *compiler.Profile) (compiler.Diagnostics, error) {
	r, err := e.Check(ctx, p)
	if err != nil {
		return nil, err
	}
	return r.Denies, nil
}

// conftest queries the rules with these names (and no others) for failures.
var failureRule = regexp.MustCompile(`^(deny|violation)(_[a-zA-Z0-9]+)*$`)

// conftest queries the rules with these names for warnings.
var warnRule = regexp.MustCompile(`^warn(_[a-zA-Z0-9]+)*$`)

// New compiles the built-in policies and every .rego file under opt.Dirs,
// except *_test.rego (Rego unit tests, which conftest loads too but which
// never deny), and prepares the query that Check evaluates.
//
// Rego that does not parse or compile is reported as RegoErrors, one
// FILE:LINE:COL line per problem.
func New(ctx context.Context, opt Options) (*Engine, error) {
	modules := map[string]*ast.Module{}
	var errs RegoErrors
	err := fs.WalkDir(builtin, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isPolicyFile(name) {
			return err
		}
		src, err := builtin.ReadFile(name)
		if err != nil {
			return err
		}
		errs = append(errs, parse(modules, builtinDir+"/"+name, src)...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read built-in policies: %w", err)
	}
	for _, dir := range opt.Dirs {
		found := false
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !isPolicyFile(path) {
				return err
			}
			found = true
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			errs = append(errs, parse(modules, path, src)...)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read policies: %w", err)
		}
		if !found {
			// Most likely a mistyped --policy; checking with no organisation
			// policy at all would pass profiles it was meant to stop.
			return nil, fmt.Errorf("policy directory %s holds no .rego files", dir)
		}
	}
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	if errs := ifWithoutContains(modules); len(errs) > 0 {
		return nil, errs.sorted()
	}

	c := ast.NewCompiler()
	if c.Compile(modules); c.Failed() {
		return nil, fromAST(c.Errors).sorted()
	}

	e := &Engine{rules: resultRules(modules)}
	ids, err := rego.New(rego.Compiler(c), rego.Query("ids := [id | some id in data.main.policy_ids]")).Eval(ctx)
	if err != nil {
		return nil, fmt.Errorf("list policy ids: %w", err)
	}
	if len(ids) != 1 {
		return nil, errors.New("list policy ids: data.main.policy_ids is undefined")
	}
	list, _ := ids[0].Bindings["ids"].([]any)
	for _, id := range list {
		if s, ok := id.(string); ok {
			e.ids = append(e.ids, s)
		}
	}
	slices.Sort(e.ids)

	// Each rule's value is wrapped in a comprehension so that an undefined
	// rule (a complete rule whose body failed) cannot make the whole query
	// undefined.
	var q strings.Builder
	q.WriteString("waived := [x | x := data.main.waived_policies]")
	for _, r := range e.rules {
		fmt.Fprintf(&q, "; %s := [x | x := %s]", r.bind, r.ref)
	}
	e.query, err = rego.New(rego.Compiler(c), rego.Query(q.String())).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare policy query: %w", err)
	}
	return e, nil
}

// PolicyIDs lists, sorted, every policy id that a waiver may name: the
// built-in ones and those that organisation policies add to policy_ids.
func (e *Engine) PolicyIDs() []string { return slices.Clone(e.ids) }

// Check evaluates the policies with the profile as written (p.Source.Document(),
// without defaults, as conftest sees it) as input.
func (e *Engine) Check(ctx context.Context, p *compiler.Profile) (*Report, error) {
	if p == nil || p.Source == nil {
		return nil, errors.New("check: the profile has no source document")
	}
	raw := p.Source.Document()
	input, err := ast.InterfaceToValue(raw)
	if err != nil {
		return nil, fmt.Errorf("check %s: convert profile for Rego: %w", p.Source.File, err)
	}
	rs, err := e.query.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", p.Source.File, err)
	}
	if len(rs) != 1 {
		return nil, fmt.Errorf("check %s: policy query gave %d results, want 1", p.Source.File, len(rs))
	}
	b := rs[0].Bindings

	r := &Report{}
	for _, rule := range e.rules {
		for _, v := range values(b[rule.bind]) {
			d, ok := rule.diagnostic(v, p.Source)
			switch {
			case !ok:
			case rule.warn:
				r.Warnings = append(r.Warnings, d)
			default:
				r.Denies = append(r.Denies, d)
			}
		}
	}
	sortDiagnostics(r.Denies)
	sortDiagnostics(r.Warnings)

	used := map[string]bool{}
	for _, v := range values(b["waived"]) {
		if id, ok := v.(string); ok {
			used[id] = true
		}
	}
	for i, w := range p.Waivers {
		if used[w.Policy] {
			r.Waived = append(r.Waived, Waived{Policy: w.Policy, Reason: w.Reason, Path: fmt.Sprintf("waivers[%d]", i)})
		}
	}
	return r, nil
}

func sortDiagnostics(ds compiler.Diagnostics) {
	slices.SortFunc(ds, func(a, b compiler.Diagnostic) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Path, b.Path), cmp.Compare(a.Policy, b.Policy), cmp.Compare(a.Message, b.Message))
	})
}

// values flattens a binding of the form [rule value]: a set or array of
// results; any other value (a boolean rule, say) holds none, as for conftest.
func values(binding any) []any {
	outer, _ := binding.([]any)
	var out []any
	for _, v := range outer {
		if inner, ok := v.([]any); ok {
			out = append(out, inner...)
		}
	}
	return out
}

// diagnostic turns one result of a failure rule into a diagnostic. Results
// are conftest's: a string, or an object with msg and any metadata; devfence
// reads the metadata keys policy and path.
func (r resultRule) diagnostic(v any, src *compiler.Source) (compiler.Diagnostic, bool) {
	var msg, policy, path string
	switch v := v.(type) {
	case string:
		msg = v
	case map[string]any:
		policy, _ = v["policy"].(string)
		path, _ = v["path"].(string)
		var ok bool
		if msg, ok = v["msg"].(string); !ok {
			// conftest stops with an error on such a result; a check that
			// passed silently would be worse, so show what the policy said.
			js, _ := json.Marshal(v)
			msg = "policy result has no msg string: " + string(js)
		}
	default:
		return compiler.Diagnostic{}, false
	}
	if policy == "" {
		policy = r.pkg
		if policy == "main" {
			policy = "user"
		}
	}
	// msg starts with the path for conftest's sake; the diagnostic prints the
	// path in its own place.
	if path != "" {
		msg = strings.TrimPrefix(msg, path+": ")
	}
	d := src.At(path, msg)
	d.Policy = policy
	return d, true
}

// resultRules finds every rule that conftest would query for failures or
// warnings, in every package (conftest --all-namespaces), sorted for stable
// output.
func resultRules(modules map[string]*ast.Module) []resultRule {
	seen := map[[2]string]bool{}
	var rules []resultRule
	for _, m := range modules {
		pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
		for _, rule := range m.Rules {
			name := ruleName(rule)
			warn := warnRule.MatchString(name)
			if (!failureRule.MatchString(name) && !warn) || seen[[2]string{pkg, name}] {
				continue
			}
			seen[[2]string{pkg, name}] = true
			rules = append(rules, resultRule{ref: m.Package.Path.Copy().Append(ast.StringTerm(name)), pkg: pkg, name: name, warn: warn})
		}
	}
	slices.SortFunc(rules, func(a, b resultRule) int {
		return cmp.Or(cmp.Compare(a.pkg, b.pkg), cmp.Compare(a.name, b.name))
	})
	for i := range rules {
		rules[i].bind = "r" + strconv.Itoa(i)
	}
	return rules
}

func ruleName(rule *ast.Rule) string {
	if len(rule.Head.Reference) > 0 {
		if v, ok := rule.Head.Reference[0].Value.(ast.Var); ok {
			return string(v)
		}
	}
	return string(rule.Head.Name)
}

// ifWithoutContains refuses `deny if { ... }`: in Rego v1 that is a boolean,
// not a set of messages, so it would never fail a profile. conftest refuses
// it too (OPA issue 6509).
func ifWithoutContains(modules map[string]*ast.Module) RegoErrors {
	var errs RegoErrors
	for _, m := range modules {
		for _, rule := range m.Rules {
			name := ruleName(rule)
			if !failureRule.MatchString(name) && !warnRule.MatchString(name) {
				continue
			}
			if rule.Head.Key == nil && rule.Head.Value != nil && rule.Head.Value.String() == "true" && len(rule.Head.Args) == 0 {
				loc := rule.Location
				errs = append(errs, RegoError{File: loc.File, Line: loc.Row, Column: loc.Col, Kind: "rego compile error",
					Message: fmt.Sprintf("rule %s uses if without contains, so it is a boolean and never fails a profile; write `%s contains msg if { ... }`", name, name)})
			}
		}
	}
	return errs
}

func isPolicyFile(name string) bool {
	return strings.HasSuffix(name, ".rego") && !strings.HasSuffix(name, "_test.rego")
}

// parse adds the module in src to modules, or returns why it cannot.
func parse(modules map[string]*ast.Module, file string, src []byte) RegoErrors {
	m, err := ast.ParseModuleWithOpts(file, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
	if err != nil {
		var errs RegoErrors
		var astErrs ast.Errors
		if errors.As(err, &astErrs) {
			errs = fromAST(astErrs)
		} else {
			errs = RegoErrors{{File: file, Line: 1, Column: 1, Kind: "rego parse error", Message: err.Error()}}
		}
		if parsesAsV0(file, src) {
			// Policies written for OPA before 1.0 (and conftest before
			// 0.56) fail here on the first rule without if or contains;
			// OPA's formatter rewrites them, so say so.
			errs = append(RegoErrors{{File: file, Line: 1, Column: 1, Kind: "rego version",
				Message: "this file is Rego v0 (OPA before 1.0); devfence reads Rego v1, as conftest does by default: convert it with `opa fmt --v0-v1 -w " + file + "`"}},
				errs...)
		}
		return errs
	}
	if m == nil {
		return RegoErrors{{File: file, Line: 1, Column: 1, Kind: "rego parse error", Message: "the file holds no Rego module; it starts with a package line"}}
	}
	modules[file] = m
	return nil
}

// parsesAsV0 tells whether src, which failed to parse as Rego v1, is a
// Rego v0 module.
func parsesAsV0(file string, src []byte) bool {
	_, err := ast.ParseModuleWithOpts(file, string(src), ast.ParserOptions{RegoVersion: ast.RegoV0})
	return err == nil
}

// RegoError is one problem in a policy source file.
type RegoError struct {
	File         string
	Line, Column int
	Kind         string // "rego parse error", "rego compile error", "rego type error", ...
	Message      string
	Details      []string // OPA's context, such as the offending line and a caret
}

// Error is FILE:LINE:COL: kind: message, then any details indented by a tab.
func (e RegoError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: %s: %s", e.File, e.Line, e.Column, e.Kind, e.Message)
	for _, d := range e.Details {
		b.WriteString("\n\t")
		b.WriteString(d)
	}
	return b.String()
}

// RegoErrors are all the problems found in policy sources, one per line.
type RegoErrors []RegoError

func (es RegoErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es RegoErrors) sorted() RegoErrors {
	slices.SortStableFunc(es, func(a, b RegoError) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return es
}

func fromAST(errs ast.Errors) RegoErrors {
	out := make(RegoErrors, 0, len(errs))
	for _, e := range errs {
		re := RegoError{Line: 1, Column: 1, Kind: strings.ReplaceAll(e.Code, "_", " "), Message: e.Message}
		if e.Details != nil {
			re.Details = e.Details.Lines()
		}
		if e.Location != nil {
			// OPA puts an error at the end of the file in column 0.
			re.File, re.Line, re.Column = e.Location.File, e.Location.Row, max(e.Location.Col, 1)
		}
		out = append(out, re)
	}
	return out
}
