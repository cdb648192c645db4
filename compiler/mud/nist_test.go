package mud_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devfence/devfence/compiler/mud"
)

// nistDir holds the MUD files of NIST's nist-mud test suite (see
// testdata/README.md).
const nistDir = "testdata/nist"

// nistConverted is how many of the 17 NIST files convert. All of them do:
// they are well-formed RFC 8520 JSON; what differs between them (extensions
// such as nist-mud:quarantined-device-policy and the reporter extension,
// ACEs without a protocol, an ACE whose only port is the peer's) maps to
// Unmapped lines, not errors. A change in this number is a change in what
// the importer accepts and must be reviewed as such.
const nistConverted = 17

func TestNIST(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(nistDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	converted, failed := 0, 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			res, err := mud.Convert(data, mud.Options{Source: filepath.Base(f)})
			if err != nil {
				// Allowed, as long as the error says where: record it.
				failed++
				var me *mud.Error
				if !errors.As(err, &me) || me.Line < 1 {
					t.Errorf("%s: an error without a position: %v", name, err)
				}
				t.Logf("%s: does not convert: %v", name, err)
				return
			}
			converted++
			t.Logf("%s: %d unmapped, unbound %v", name, len(res.Unmapped), res.Unbound)
			checkGolden(t, name, filepath.Join(goldenDir, "nist", name+".yaml"), res.YAML)
			loadBound(t, filepath.Base(f), data)
		})
	}
	t.Logf("NIST MUD files: %d converted, %d refused", converted, failed)
	if converted != nistConverted || converted+failed != len(files) {
		t.Errorf("%d of %d NIST files converted (%d refused); want %d converted", converted, len(files), failed, nistConverted)
	}
}
