package compiler

// entryOrigin is the comment of the rules and sets an entry of a named
// list produces: the list and the entry's name ("egress.allow dns"), never
// its index. Removing or reordering entries then leaves every other
// entry's comments as they were, so a diff of two compiled tables shows
// only the entries that changed. check requires every name and makes it
// unique within its list, so the origin names one entry.
func entryOrigin(list, name string) string { return list + " " + name }

// bulkOrigin names a consent.bulk entry, which has no name, by what it
// allows ("consent.bulk udp 5000-5100") for the same reason: two entries
// that read the same allow the same packets, so sharing a comment hides
// nothing.
func bulkOrigin(b BulkRule) string {
	if b.Port.IsZero() {
		return "consent.bulk " + b.Proto
	}
	return "consent.bulk " + b.Proto + " " + b.Port.String()
}
