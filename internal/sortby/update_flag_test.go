package sortby

// Every test binary of the module accepts -update (see internal/golden).
import _ "github.com/devfence/devfence/internal/golden"
