// Package tmpl parses and renders runnel's Tera/Jinja templates (SPEC §4) with
// gonja v2: memory loader only, strict undefined, a private filter set and
// runnel's own value formatting.
//
// It must not read files, the environment (except through the explicit
// get_env lookup of RenderEnv) or anything else outside its arguments.
//
// How it sits on gonja: Parse lexes the text once, checks filter and test
// names on the tokens and parses them with a private control-structure set
// (include, import, from and extends fail; set may only assign plain names;
// macros are depth-limited). A template of only text and output tags is
// "flat": runnel evaluates each output expression with a gonja evaluator and
// formats the value itself, which also gives Eval its typed values. Any other
// template has the tokens of every output tag rewritten through a private
// formatting filter, parsed again and rendered by gonja's renderer. Errors
// gonja flattens into strings travel as position markers (errors.go).
//
// Every render is bounded by Limits (time and output, budget.go): the parsed
// tree is rewritten so that loops, string-building operators and the
// filters and methods that grow with an argument check the budget before
// they allocate (guard.go, guard_filters.go).
package tmpl
