package mud

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestTry(t *testing.T) {
	files, _ := filepath.Glob(os.Getenv("MUDGLOB"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		r, err := Convert(data, Options{Source: f})
		fmt.Println("=====", f)
		if err != nil {
			fmt.Println("ERR", err)
			continue
		}
		fmt.Print(string(r.YAML))
		fmt.Println("unbound", r.Unbound)
	}
}
