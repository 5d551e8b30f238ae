// Package netlink watches the console's show-network NIC: whether it exists
// and whether it has carrier. It implements hal.Link.
//
// The shape follows tailscale's net/netmon: a private OS monitor (osMon)
// feeds a Monitor that owns the state, deduplicates it and publishes
// changes; tests drive the Monitor through a fake osMon, and InjectEvent
// forces a re-read as an OS event would.
//
// Two inputs feed the state, and both only prompt a fresh read of the link
// (RTM_GETLINK by name), so the state never comes from a stale message:
//
//   - a netlink RTNLGRP_LINK subscription (listing the existing links first),
//     resubscribed whenever its channel closes on a receive error;
//   - a poll every PollInterval (default 100 ms). It is not only a fallback:
//     on a real NIC (ifindex equal to iflink) the kernel batches carrier-loss
//     notifications through link-watch for up to a second, while a GETLINK
//     sees the carrier bit at once. The poll bounds the detection latency to
//     about one interval.
//
// Carrier is IFF_LOWER_UP in the link's raw flags, not the operstate, which
// link-watch updates late as well. A link that is removed or renamed is
// reported absent (Present false) and, if it comes back, present again.
package netlink
