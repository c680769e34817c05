package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"text/tabwriter"

	"github.com/rosterhq/roster/api"
)

// clusterColumns are the cluster table's columns, as Axon's CLI names them.
var clusterColumns = []string{"Name", "Hostname", "gRPC Port", "HTTP Port", "Internal Hostname", "Internal Port", "Status"}

// printNodeTable writes nodes as an aligned table sorted by name. Status,
// the last column, is coloured when colour is on; being last, its escape
// codes cannot upset the alignment.
func printNodeTable(w io.Writer, nodes []api.Node, colour bool) error {
	sorted := append([]api.Node(nil), nodes...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })

	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	writeRow(tw, clusterColumns...)
	for _, n := range sorted {
		writeRow(tw, n.Name, n.HostName, strconv.Itoa(n.GrpcPort), strconv.Itoa(n.HTTPPort),
			n.InternalHostName, strconv.Itoa(n.GrpcInternalPort), paintStatus(n.Status, colour))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

func writeRow(w io.Writer, cells ...string) {
	for i, c := range cells {
		if i > 0 {
			_, _ = io.WriteString(w, "\t")
		}
		_, _ = io.WriteString(w, c)
	}
	_, _ = io.WriteString(w, "\n")
}

// paintStatus colours a membership status for a terminal.
func paintStatus(status string, colour bool) string {
	if !colour {
		return status
	}
	code := map[string]string{"alive": "32", "suspect": "33", "failed": "31", "left": "90"}[status]
	if code == "" {
		return status
	}
	return "\x1b[" + code + "m" + status + "\x1b[0m"
}

// printJSON pretty-prints a JSON document as the server sent it.
func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("server sent invalid JSON: %w", err)
	}
	buf.WriteByte('\n')
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// printLine writes a confirmation line.
func printLine(w io.Writer, format string, args ...any) error {
	if _, err := fmt.Fprintf(w, format+"\n", args...); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// useColour is true when w is a terminal and NO_COLOR is unset
// (https://no-color.org). A character device is taken for a terminal,
// which avoids a dependency for a cosmetic choice.
func useColour(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
