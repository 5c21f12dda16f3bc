package config

import (
	"fmt"
	"strings"
)

// Errors is every problem found in one configuration file, in file order.
// Reporting them all at once saves the operator an edit-run cycle per typo.
type Errors struct{ List []FieldError }

// Error joins the problems, one per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, fe := range e.List {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// FieldError is one problem, located at the offending value.
type FieldError struct {
	File         string
	Line, Column int
	// Path names the value the way a reader finds it in the file:
	// targets[0].admin_client.client_secret_file. Empty for YAML syntax errors.
	Path    string
	Message string
}

// Error formats "<file>:<line>:<col>: <path>: <message>", the form editors
// and CI annotations recognise. A YAML syntax error has no path, and its
// column (sometimes its line) is unknown: the missing parts are left out.
func (e FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Warning formats a warning like Error, with "warning: " before the
// message: "<file>:<line>:<col>: <path>: warning: <message>".
func (e FieldError) Warning() string {
	e.Message = "warning: " + e.Message
	return e.Error()
}
