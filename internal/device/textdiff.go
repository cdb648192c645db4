package device

// TextDiff is the unified diff of two texts, line by line, from a (−) to
// b (+), as Diff shows tables; "" when they are equal. devfence test uses
// it for golden traces.
func TextDiff(a, b, aLabel, bLabel string) string {
	if a == b {
		return ""
	}
	return unified(lines(a), lines(b), aLabel, bLabel)
}
