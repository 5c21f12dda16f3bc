"""Reads a JUnit XML file with junitparser (Debian's python3-junitparser),
a parser revprober did not write, and prints what it understood as JSON:
the suites' counts and every case with its result. test/junit/junit_test.go
compares that with what `revprober once --junit` was asked to report."""
import json
import sys

from junitparser import Error, Failure, JUnitXml, Skipped

doc = JUnitXml.fromfile(sys.argv[1])
out = {"suites": []}
for suite in doc:
    cases = []
    for case in suite:
        kinds = [type(r).__name__.lower() for r in case.result if isinstance(r, (Failure, Error, Skipped))]
        messages = [r.message or "" for r in case.result]
        cases.append({"name": case.name, "classname": case.classname, "results": kinds, "messages": messages})
    out["suites"].append({"name": suite.name, "tests": suite.tests, "failures": suite.failures,
                          "errors": suite.errors, "cases": cases})
json.dump(out, sys.stdout)
