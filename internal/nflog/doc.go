// Package nflog subscribes to an NFLOG group over nfnetlink and turns the
// packets devfence's table logs before it drops them into Records: when,
// which direction, which peer, protocol and port, and why.
//
// # Protocol
//
// It speaks nfnetlink (NETLINK_NETFILTER, subsystem NFNL_SUBSYS_ULOG)
// directly over github.com/mdlayher/netlink: the usual Go wrappers
// (florianl/go-nflog, ti-mo/netfilter) are not available from the module
// proxy here. One NFULNL_MSG_CONFIG message binds the group, asks for copy
// mode "packet" with a small copy range (headers are all we decode) and a
// queue threshold of one, so every drop is delivered at once instead of in
// batches flushed once a second. PF_BIND is never sent: it would make
// nfnetlink_log the default logger of a whole address family, a global side
// effect that `log group N` does not need.
//
// # Why a packet was dropped
//
// devfence's chains end with one rate-limited log rule per direction
// ("devfence <device> in drop: ", "devfence <device> out drop: ") and a
// drop, so the log prefix alone says the direction, not the cause. The
// watcher derives the cause instead of asking the compiler for more log
// rules (which would cost a rule, and a separate rate limit, per metered
// rule):
//
//   - in: unsolicited inbound. Only packets that no established connection,
//     essential and inbound service accepted reach the input log rule.
//   - out, with the profile in force (Options.Table): the output chain's
//     metered rules are matched against the packet on what the packet
//     shows (family, protocol, ports, static address sets, ICMP type); what
//     it cannot show (conntrack state and direction, dynamic sets, fib) is
//     assumed to match. No candidate rule: not allowed. For each candidate
//     the rule's per-peer quota set is read back from the kernel (one
//     NFT_MSG_GETSETELEM for the packet's key, masked like the rule masks
//     it): element present and its quota used >= budget: quota spent; the
//     egress.total element likewise; element absent and the set holding
//     `size` elements: table full (the rule's `add` could not insert the
//     peer, and a full set fails closed). A candidate whose meters all have
//     room did not refuse the packet, so it is not allowed after all (for
//     instance not a reply to an inbound service).
//   - out, without the profile: unknown; the prefix cannot tell not allowed
//     from quota spent or table full.
//
// The set state is read when the log message arrives, milliseconds after
// the drop; a quota window that ends in between hides a spent quota. That is
// the price of adding no rules, and it is documented in the command help.
package nflog
