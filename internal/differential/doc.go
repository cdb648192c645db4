// Package differential checks the tracer (rules/trace) against the kernel:
// random sequences of UDP traffic go through a compiled table both in a
// namespace lab (internal/netlab) and in the tracer, and every verdict and
// delivered count must agree. Its test is the whole package; see
// docs/TESTING.md, "Differential test".
package differential
