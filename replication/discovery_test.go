package replication

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"consoled/replication/wire"
)

func TestBeaconRoundTripAndRejects(t *testing.T) {
	var k1, k2 wire.Key
	k1[0], k2[0] = 1, 2
	key := beaconKey(k1)
	msg := encodeBeacon(key, beacon{Console: "desk-1", Port: 7400, Addr: net.IPv4(10, 0, 0, 1), Time: 1700000000123})
	b, err := decodeBeacon(key, msg)
	if err != nil || b.Console != "desk-1" || b.Port != 7400 || !b.Addr.Equal(net.IPv4(10, 0, 0, 1)) || b.Time != 1700000000123 {
		t.Fatalf("round trip: %+v %v", b, err)
	}
	if _, err := decodeBeacon(beaconKey(k2), msg); !errors.Is(err, errBeacon) {
		t.Fatalf("a beacon of another show network was accepted: %v", err)
	}
	for i := range msg {
		bad := bytes.Clone(msg)
		bad[i] ^= 0x20
		if _, err := decodeBeacon(key, bad); err == nil {
			t.Fatalf("a beacon with byte %d changed was accepted", i)
		}
	}
	for n := 0; n < len(msg); n++ {
		if _, err := decodeBeacon(key, msg[:n]); err == nil {
			t.Fatalf("a beacon cut to %d bytes was accepted", n)
		}
	}
}

func FuzzDecodeBeacon(f *testing.F) {
	var k wire.Key
	key := beaconKey(k)
	f.Add(encodeBeacon(key, beacon{Console: "desk-1", Port: 7400, Addr: net.IPv4(10, 0, 0, 1), Time: 1}))
	f.Add([]byte(beaconMagic))
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := decodeBeacon(key, p)
		if err == nil && !bytes.Equal(encodeBeacon(key, b), p) {
			t.Fatalf("accepted a beacon that does not re-encode to itself")
		}
	})
}
