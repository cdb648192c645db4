//go:build !nopolicy

package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/devfence/devfence/compiler/mud"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "import-mud",
		Usage:     "convert an RFC 8520 MUD file into a devfence profile",
		ArgsUsage: "FILE.json",
		Description: `Reads a Manufacturer Usage Description (ietf-mud:mud plus
ietf-access-control-list:acls) and writes a profile in YAML: device-initiated
ACEs become egress.allow rules, peer-initiated ones inbound.services. DNS
names and MUD classes (local-networks, controller, my-controller,
same-manufacturer, manufacturer, model) become named networks; give their
addresses with --bind or edit the result. Everything that does not map is
listed in a comment at the top of the output and on stderr, never dropped.

Examples:
   devfence import-mud lightbulb.json > lightbulb.yaml
   devfence import-mud --bind local-networks=192.168.1.0/24,fd00:1::/64 \
       --bind my-controller=192.168.1.2 -o bulb.yaml lightbulb.json
   devfence validate bulb.yaml`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "bind", Usage: "give network `NAME=CIDR[,CIDR...]` its addresses (repeatable)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the profile to `FILE` instead of standard output"},
		},
		Action: importMUDAction,
	})
}

func importMUDAction(c *cli.Context) error {
	path, err := oneProfile(c)
	if err != nil {
		return err
	}
	binds := map[string][]string{}
	for _, b := range c.StringSlice("bind") {
		name, cidrs, err := mud.ParseBind(b)
		if err != nil {
			return usageError{err}
		}
		binds[name] = append(binds[name], cidrs...)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	res, err := mud.Convert(data, mud.Options{Binds: binds, Source: path})
	if err != nil {
		return exitWith{code: exitProfile, msg: err.Error()}
	}
	stderr := c.App.ErrWriter
	for _, u := range res.Unmapped {
		fmt.Fprintf(stderr, "devfence: %s: not imported: %s\n", path, u)
	}
	if len(res.Unbound) > 0 {
		fmt.Fprintf(stderr, "devfence: %s: networks left empty, give them with --bind NAME=CIDR: %v\n", path, res.Unbound)
	}
	if out := c.String("output"); out != "" {
		return writeFileAtomic(out, res.YAML)
	}
	_, err = c.App.Writer.Write(res.YAML)
	return err
}
