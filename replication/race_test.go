//go:build race

package replication

// raceEnabled: the tests run under the race detector, several times slower;
// the long randomized runs shrink to keep make test quick.
const raceEnabled = true
