// Package tmpl parses and renders runnel's Tera/Jinja templates (SPEC §4) with
// gonja v2: memory loader only, strict undefined, a private filter set and
// runnel's own value formatting.
//
// It must not read files, the environment (except through the explicit
// get_env lookup of RenderEnv) or anything else outside its arguments.
package tmpl
