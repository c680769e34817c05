// Package cli holds roster's command line: the root command and the admin
// commands that talk to a node's HTTP port with Axon Server's flags
// (register-node, unregister-node, cluster).
//
// Other commands plug in on the root:
//
//	root := cli.NewRootCommand(os.Stdout, os.Stderr)
//	root.AddCommand(&cobra.Command{Use: "hello", RunE: hello})
//	os.Exit(cli.Run(ctx, root, os.Args[1:], os.Stderr))
//
// Run gives them the same one-line errors and exit codes: an error from a
// command's RunE (or its pre/post hooks) exits 1, an error cobra finds
// before running it (unknown command or flag, bad flag value, stray
// arguments, a required flag missing) exits 2, and so does one wrapped by
// UsageError.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/node"
)

// Exit codes returned by Run and Execute.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// settings are the options shared by the commands.
type settings struct {
	out, errOut io.Writer
	// workDir is where ./security/.token is looked for.
	workDir string
	// terminal, when set, replaces the check whether an output is a
	// terminal (progress, redrawing); tests set it (terminal.go).
	terminal func(io.Writer) bool
}

// Option changes how NewRootCommand's commands behave.
type Option func(*settings)

// WithWorkDir sets the directory in which ./security/.token is looked for
// (default: the current directory). Tests use it to avoid chdir.
func WithWorkDir(dir string) Option {
	return func(s *settings) { s.workDir = dir }
}

// NewRootCommand returns the "roster" command with the admin commands
// registered on it. Output goes to out; cobra's help and messages to out
// and errOut as cobra chooses.
func NewRootCommand(out, errOut io.Writer, opts ...Option) *cobra.Command {
	s := &settings{out: out, errOut: errOut, workDir: "."}
	for _, o := range opts {
		o(s)
	}
	root := &cobra.Command{
		Use:   "roster",
		Short: "roster runs and administers an active/active cluster of nodes",
		Long: "roster runs a cluster node (roster server) and administers a cluster through any node's\n" +
			"HTTP port with Axon Server's admin commands and flags.",
		// Run prints failures itself, as one line.
		SilenceUsage:  true,
		SilenceErrors: true,
		// Suggestions would add lines to an unknown command's error.
		DisableSuggestions: true,
		// --version (-v): the version nodes advertise to peers and clients.
		// cobra's default version output is a function; a template of our
		// own would be executed by text/template, which makes the linker
		// keep every exported method (TestShippedBuildLetsTheLinkerDropUnusedMethods).
		Version: node.Version,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(
		newRegisterNodeCommand(s),
		newUnregisterNodeCommand(s),
		newClusterCommand(s),
		newServerCommand(s),
		newDevCommand(s),
		newKeysCommand(s),
		newKeygenCommand(s),
	)
	return root
}

// flagError names the nearest flag of the command for an unknown --flag,
// as files and environment variables get for unknown keys.
func flagError(cmd *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	if errors.As(err, &ne) && ne.GetSpecifiedShortnames() == "" {
		var names []string
		cmd.Flags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
		if near := node.Nearest(ne.GetSpecifiedName(), names); near != "" {
			return fmt.Errorf("%w (did you mean --%s?)", err, near)
		}
	}
	return err
}

// Execute runs roster with args (without the program name) and returns the
// exit code; a failure is printed as one line on stderr.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return Run(ctx, NewRootCommand(stdout, stderr), args, stderr)
}

// Run runs root (built by NewRootCommand, possibly with more commands added)
// with args and returns the exit code. A failure is printed on stderr as
// one line: "roster: <command>: <why>".
func Run(ctx context.Context, root *cobra.Command, args []string, stderr io.Writer) int {
	if args == nil {
		args = []string{} // nil makes cobra read os.Args
	}
	markRunErrors(root)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitFailure
	if isUsage(err) {
		code = ExitUsage
	}
	_, _ = fmt.Fprintln(stderr, errorLine(root, cmd, err, code == ExitUsage))
	return code
}

// UsageError marks err as a usage error: Run exits 2 for it.
func UsageError(err error) error { return &usageError{err: err} }

func usagef(format string, args ...any) error { return UsageError(fmt.Errorf(format, args...)) }

type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// runError marks an error returned by a command's own code, as opposed to
// one cobra raised while parsing the command line.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

func isUsage(err error) bool {
	var u *usageError
	if errors.As(err, &u) {
		return true
	}
	var r *runError
	return !errors.As(err, &r)
}

// markedAnnotation keeps markRunErrors from wrapping a command twice.
const markedAnnotation = "roster.cli/run-errors-marked"

// markRunErrors wraps the error-returning hooks of every command in the
// tree so their errors are told apart from cobra's own (which are usage
// errors but carry no type). Done at run time so commands added after
// NewRootCommand are covered too.
func markRunErrors(c *cobra.Command) {
	if c.Annotations[markedAnnotation] == "" {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[markedAnnotation] = "yes"
		for _, hook := range []*func(*cobra.Command, []string) error{
			&c.PersistentPreRunE, &c.PreRunE, &c.RunE, &c.PostRunE, &c.PersistentPostRunE,
		} {
			if f := *hook; f != nil {
				*hook = func(cmd *cobra.Command, args []string) error {
					if err := f(cmd, args); err != nil {
						return &runError{err: err}
					}
					return nil
				}
			}
		}
	}
	for _, sub := range c.Commands() {
		markRunErrors(sub)
	}
}

// errorLine renders a failure as "roster: <command>: <why>", on one line.
func errorLine(root, cmd *cobra.Command, err error, usage bool) string {
	what := ""
	if cmd != nil && cmd != root {
		what = strings.TrimPrefix(cmd.CommandPath(), root.Name()+" ")
	}
	line := root.Name() + ": "
	if what != "" {
		line += what + ": "
	}
	line += oneLine(describe(err))
	if usage {
		path := root.Name()
		if cmd != nil {
			path = cmd.CommandPath()
		}
		line += " (see " + path + " --help)"
	}
	return line
}

// describe is err's text, except that a server error without a code (a
// proxy's answer, say) shows its message alone rather than ": message".
func describe(err error) string {
	msg := err.Error()
	var e *api.Error
	if errors.As(err, &e) && e.Code == "" {
		msg = strings.Replace(msg, e.Error(), e.Message, 1)
	}
	return msg
}

func oneLine(s string) string {
	var lines []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}
