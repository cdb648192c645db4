package mud_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/devfence/devfence/compiler/mud"
)

// FuzzConvert checks that no input panics, and that whatever converts is a
// profile the loader accepts once every network is bound, the same bytes
// every time.
func FuzzConvert(f *testing.F) {
	for _, dir := range []string{examplesDir, nistDir, thirdPartyDir} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte(withACE(aceWith(`{"ipv6":{"ietf-acldns:dst-dnsname":"a_b.example.","protocol":17},"udp":{"destination-port":{"operator":"neq","port":53}}}`))))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := mud.Convert(data, mud.Options{Source: "f.json"})
		if err != nil {
			return
		}
		bound, err := mud.Convert(data, mud.Options{Source: "f.json", Binds: testAddrs(res.Unbound)})
		if err != nil {
			t.Fatalf("binding every unbound network: %v", err)
		}
		loadProfile(t, "f.yaml", bound.YAML)
		again, _ := mud.Convert(data, mud.Options{Source: "f.json"})
		if string(again.YAML) != string(res.YAML) {
			t.Fatalf("two conversions differ")
		}
	})
}
