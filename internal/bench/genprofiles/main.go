// Command genprofiles writes N varied, valid device profiles for the fleet
// compile benchmark (docs/BENCHMARKS.md):
//
//	go run ./internal/bench/genprofiles -n 10000 -o /tmp/fleet
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/devfence/devfence/internal/bench/fleet"
)

func main() {
	n := flag.Int("n", 10000, "number of profiles")
	out := flag.String("o", "", "output directory (created)")
	networks := flag.Int("networks", 0, "with -n 1: one profile whose allow rule names this many /32 networks")
	flag.Parse()
	if *out == "" {
		log.Fatal("genprofiles: -o DIR is required")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	for i := range *n {
		path := filepath.Join(*out, fmt.Sprintf("device-%05d.yaml", i))
		if err := os.WriteFile(path, []byte(fleet.Profile(i, *networks)), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
