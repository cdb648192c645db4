// Command kernellab boots Debian kernels under qemu (TCG) and runs
// devfence's kernel tests inside each, then prints a scenario x target
// table. It exits 1 when any test, module load or VM failed. See
// docs/KERNEL-LAB.md.
//
//	go run ./internal/kernellab/cmd/kernellab [-targets 5.10-amd64,6.1-mipsel] [-run REGEX] [-v]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/devfence/devfence/internal/kernellab"
)

func main() {
	targets := flag.String("targets", strings.Join(kernellab.DefaultTargets, ","),
		"comma-separated targets: "+strings.Join(kernellab.Names(), ", "))
	run := flag.String("run", "", "run only the tests matching `REGEX` (-test.run) in every suite")
	cache := flag.String("cache", envOr("DEVFENCE_KERNELLAB_CACHE", "/var/cache/devfence-kernellab"), "download and build `DIR`")
	timeout := flag.Duration("timeout", 60*time.Minute, "kill a VM after `D`")
	verbose := flag.Bool("v", false, "copy every VM's console to stdout")
	packages := flag.Bool("packages", false, "print the Debian packages the targets' qemu needs and exit")
	knownFile := flag.String("known", "", "failures listed in `FILE` (TARGETS TEST MESSAGE per line) are reported as KNOWN and do not fail the run")
	flag.Parse()

	var known []kernellab.Known
	if *knownFile != "" {
		var err error
		if known, err = kernellab.LoadKnown(*knownFile); err != nil {
			fatal(err)
		}
	}

	ts, err := kernellab.Lookup(*targets)
	if err != nil {
		fatal(err)
	}
	if *packages {
		seen := map[string]bool{}
		for _, t := range ts {
			if !seen[t.Package] {
				seen[t.Package] = true
				fmt.Println(t.Package)
			}
		}
		return
	}
	root, err := kernellab.ModuleRoot()
	if err != nil {
		fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := kernellab.Options{Root: root, Cache: *cache, Run: *run, Timeout: *timeout, Context: ctx}
	suites := kernellab.Suites(*run)
	var results []*kernellab.Result
	for _, t := range ts {
		results = append(results, runTarget(o, t, suites, *verbose))
		if ctx.Err() != nil {
			break
		}
	}
	if !kernellab.Summary(os.Stdout, results, known) {
		os.Exit(1)
	}
}

func runTarget(o kernellab.Options, t kernellab.Target, suites []kernellab.Suite, verbose bool) *kernellab.Result {
	start := time.Now()
	r := &kernellab.Result{Target: t}
	defer func() { r.Total = time.Since(start) }()
	fmt.Printf("== %s: preparing (Debian %s %s, linux-image-%s)\n", t.Name, t.Suite, t.Arch, t.Flavour)
	kernel, initrd, err := kernellab.Prepare(o, t, suites)
	if err != nil {
		r.Err = err
		fmt.Printf("== %s: %v\n", t.Name, err)
		return r
	}
	r.Sizes = kernellab.Sizes(filepath.Dir(initrd))
	logPath := filepath.Join(filepath.Dir(initrd), "console.log")
	log, err := os.Create(logPath)
	if err != nil {
		r.Err = err
		return r
	}
	defer log.Close()
	var w io.Writer = log
	if verbose {
		w = io.MultiWriter(log, os.Stdout)
	}
	o.Console = w
	fmt.Printf("== %s: booting %s (console: %s)\n", t.Name, filepath.Base(kernel), logPath)
	vmStart := time.Now()
	console, booted, err := kernellab.Boot(o, t, kernel, initrd)
	r.VM, r.Boot, r.Err = time.Since(vmStart), booted, err
	kernellab.Parse(r, console)
	fmt.Printf("== %s: done in %v\n", t.Name, r.VM.Round(time.Second))
	return r
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "kernellab:", err)
	os.Exit(2)
}
